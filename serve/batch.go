package serve

import (
	"context"
	"image"
	"time"

	"github.com/ghmdet/ghmdet/detect"
)

// batchLoop collects queued images into batches and runs them, until Close.
func (s *Server) batchLoop() {
	defer close(s.loopDone)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		var first *job
		select {
		case first = <-s.queue:
		case <-s.stop:
			return
		}
		s.waiting.Add(-1)
		batch := []*job{first}
		timer.Reset(s.cfg.BatchWait)
	collect:
		for len(batch) < s.cfg.MaxBatch {
			select {
			case j := <-s.queue:
				s.waiting.Add(-1)
				batch = append(batch, j)
				continue
			default:
			}
			// Nothing queued: wait only while other admitted requests are
			// on their way (being received or decoded).
			if s.waiting.Load() <= 0 {
				break
			}
			select {
			case j := <-s.queue:
				s.waiting.Add(-1)
				batch = append(batch, j)
			case <-timer.C:
				break collect
			case <-s.stop:
				break collect
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		s.runBatch(batch)
	}
}

// runBatch runs the batch's live jobs (those whose request still waits) as
// one batch and answers each. Should the batch fail, each job runs alone,
// so that one bad image cannot fail the others.
func (s *Server) runBatch(batch []*job) {
	live := batch[:0]
	for _, j := range batch {
		if err := j.ctx.Err(); err != nil {
			j.done <- result{err: err}
			continue
		}
		live = append(live, j)
	}
	if len(live) == 0 {
		return
	}
	if f := s.beforeBatch.Load(); f != nil {
		(*f)(len(live))
	}
	imgs := make([]image.Image, len(live))
	settings := make([]detect.Settings, len(live))
	for i, j := range live {
		imgs[i], settings[i] = j.img, j.settings
	}
	start := time.Now()
	res, err := s.det.DetectBatchWith(context.Background(), imgs, settings)
	s.metrics.batchSeconds.Observe(time.Since(start).Seconds())
	s.metrics.batchSize.Observe(float64(len(live)))
	if err == nil {
		for i, j := range live {
			j.done <- result{dets: res[i], batch: len(live)}
		}
		return
	}
	for i, j := range live {
		one, err := s.det.DetectBatchWith(context.Background(), imgs[i:i+1], settings[i:i+1])
		if err != nil {
			j.done <- result{err: err, batch: 1}
			continue
		}
		j.done <- result{dets: one[0], batch: 1}
	}
}
