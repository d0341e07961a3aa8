package study

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// lockInfo is the content of a run's lock file: who works on the run.
type lockInfo struct {
	PID     int    `json:"pid"`
	Host    string `json:"host"`
	Started string `json:"started"`
}

// String names the holder: process, host and start.
func (l lockInfo) String() string {
	return fmt.Sprintf("process %d on %s since %s", l.PID, l.Host, l.Started)
}

// BusyError says that another process holds a run's lock.
type BusyError struct {
	Path   string
	Holder string
}

// Error names the lock file and its holder.
func (e *BusyError) Error() string {
	return fmt.Sprintf("%s is held by %s (delete the file if that process is gone)", e.Path, e.Holder)
}

// runLock is a held lock file.
type runLock struct {
	path string
	info lockInfo
}

// hostname is the host recorded in lock files (a variable for tests).
var hostname = func() string {
	h, err := os.Hostname()
	if err != nil {
		return "unknown-host"
	}
	return h
}

// acquireLock takes the lock file at path, created with O_EXCL so that of
// two processes (on one machine or sharing the folder over a network file
// system) only one gets it. A lock left by a process of this host that no
// longer runs is taken over; a lock held by a live process, or by one of
// another host (whose liveness cannot be checked), is a *BusyError.
func acquireLock(path string) (*runLock, error) {
	me := lockInfo{PID: os.Getpid(), Host: hostname(), Started: time.Now().UTC().Format(time.RFC3339)}
	content, err := json.Marshal(me)
	if err != nil {
		return nil, err
	}
	for attempt := 0; attempt < 3; attempt++ {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			_, werr := f.Write(append(content, '\n'))
			cerr := f.Close()
			if werr = errors.Join(werr, cerr); werr != nil {
				_ = os.Remove(path)
				return nil, fmt.Errorf("lock %s: %w", path, werr)
			}
			return &runLock{path: path, info: me}, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		raw, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			continue // released meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		var held lockInfo
		if err := json.Unmarshal(raw, &held); err != nil {
			// Being written (or damaged): the writer holds it.
			return nil, &BusyError{Path: path, Holder: fmt.Sprintf("an unreadable lock (%q)", raw)}
		}
		if held.Host != me.Host || processAlive(held.PID) {
			return nil, &BusyError{Path: path, Holder: held.String()}
		}
		if err := removeStale(path, raw); err != nil {
			return nil, err
		}
	}
	return nil, &BusyError{Path: path, Holder: "other processes (the lock changed hands while taking it)"}
}

// removeStale removes the lock file at path if it still holds raw (the
// stale content read before): it renames the file aside, checks what it
// moved and puts back a lock that another process took meanwhile.
func removeStale(path string, raw []byte) error {
	aside := fmt.Sprintf("%s.stale-%d-%d", path, os.Getpid(), time.Now().UnixNano())
	if err := os.Rename(path, aside); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("lock %s: taking over a stale lock: %w", path, err)
	}
	moved, err := os.ReadFile(aside)
	if err == nil && string(moved) != string(raw) {
		// Another process took the lock between our read and the rename:
		// give it back (Link fails if yet another one took it since).
		_ = os.Link(aside, path)
	}
	_ = os.Remove(aside)
	return nil
}

// release removes the lock file if it is still this process's.
func (l *runLock) release() error {
	raw, err := os.ReadFile(l.path)
	if err != nil {
		return fmt.Errorf("release lock %s: %w", l.path, err)
	}
	var held lockInfo
	if json.Unmarshal(raw, &held) != nil || held != l.info {
		return fmt.Errorf("release lock %s: the lock is no longer this process's (now %s)", l.path, raw)
	}
	if err := os.Remove(l.path); err != nil {
		return fmt.Errorf("release lock %s: %w", l.path, err)
	}
	return nil
}

// processAlive reports whether a process with this id runs on this host
// (signal 0 checks without signalling; a permission error means it runs
// under another user).
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	return err == nil || errors.Is(err, syscall.EPERM)
}
