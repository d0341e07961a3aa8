package train

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// Checkpoint file format (version 1). All integers are little-endian.
//
//	offset  size  content
//	0       8     magic "GHMDETCK"
//	8       4     uint32 format version (1)
//	12      4     uint32 header length H
//	16      H     header: JSON object {"meta": Meta, "tensors": [entry...]}
//	16+H    4     uint32 CRC-32 (IEEE) of the H header bytes
//	20+H    ...   data: the tensors' raw bytes back to back, in entry order
//
// Each entry is {"name": variable path, "dtype": GoMLX dtype name
// ("Float32", "Int64", ...), "shape": [dims], "trainable": bool,
// "offset": byte offset within the data section, "size": bytes,
// "crc32": CRC-32 (IEEE) of the tensor's bytes}. Tensor bytes are the
// row-major, little-endian element values (GoMLX's in-memory layout).
// Entries are contiguous (offset = sum of the previous sizes) and the file
// ends right after the last tensor, so truncation is always detected.
const (
	checkpointMagic   = "GHMDETCK"
	checkpointVersion = 1
	// maxHeaderLen bounds the header read from a file (it holds one short
	// entry per variable).
	maxHeaderLen = 256 << 20
)

// CheckpointExt is the conventional extension of checkpoint files.
const CheckpointExt = ".ckpt"

// Meta is the metadata stored with a checkpoint.
type Meta struct {
	// Step is the number of training steps done (the next step to run is
	// Step+1).
	Step int `json:"step"`
	// Epoch is the number of complete epochs done.
	Epoch int `json:"epoch"`
	// Seed is the run's random seed.
	Seed int64 `json:"seed"`
	// Config is the run configuration, as raw text (YAML or JSON).
	Config string `json:"config,omitempty"`
	// Extra holds free-form string metadata (e.g. the data order state).
	Extra map[string]string `json:"extra,omitempty"`
	// Time is when the checkpoint was written (set by Save when zero).
	Time time.Time `json:"time"`
	// Versions of ghmdet, GoMLX, compute and Go that wrote the checkpoint
	// (set by Save when empty).
	Ghmdet  string `json:"ghmdet,omitempty"`
	GoMLX   string `json:"gomlx,omitempty"`
	Compute string `json:"compute,omitempty"`
	Go      string `json:"go,omitempty"`
}

// TensorInfo describes one variable stored in a checkpoint.
type TensorInfo struct {
	Name      string `json:"name"`
	DType     string `json:"dtype"`
	Shape     []int  `json:"shape"`
	Trainable bool   `json:"trainable"`
	Offset    int64  `json:"offset"`
	Size      int64  `json:"size"`
	CRC32     uint32 `json:"crc32"`
}

type checkpointHeader struct {
	Meta    Meta         `json:"meta"`
	Tensors []TensorInfo `json:"tensors"`
}

// ErrIncompatible is wrapped by Load's errors about variables whose shape
// differs or which are missing: the checkpoint comes from another config.
var ErrIncompatible = errors.New("checkpoint from an incompatible config")

var littleEndianHost = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// fillVersions sets the empty version fields of m from the build info.
func (m *Meta) fillVersions() {
	if m.Time.IsZero() {
		m.Time = time.Now().UTC()
	}
	if m.Go == "" {
		m.Go = runtime.Version()
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return
	}
	if m.Ghmdet == "" && bi.Main.Path == "github.com/ghmdet/ghmdet" {
		m.Ghmdet = bi.Main.Version
		var rev, modified string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
		if rev != "" {
			if len(rev) > 12 {
				rev = rev[:12]
			}
			m.Ghmdet += " (rev " + rev
			if modified == "true" {
				m.Ghmdet += ", modified"
			}
			m.Ghmdet += ")"
		}
	}
	for _, d := range bi.Deps {
		switch {
		case d.Path == "github.com/gomlx/gomlx" && m.GoMLX == "":
			m.GoMLX = d.Version
		case d.Path == "github.com/gomlx/compute" && m.Compute == "":
			m.Compute = d.Version
		case d.Path == "github.com/ghmdet/ghmdet" && m.Ghmdet == "":
			m.Ghmdet = d.Version
		}
	}
}

// Save writes every variable of store (trainable, non-trainable, optimiser
// and loss state: all of them, in store order) and meta to a checkpoint
// file at path, atomically (see WriteAtomic): a failure leaves a previous
// file at path intact. Every variable must have a value.
func Save(path string, store *model.Store, meta Meta) error {
	return save(path, store, meta, nil)
}

// save is Save with an optional wrapper of the file writer (for tests).
func save(path string, store *model.Store, meta Meta, wrap func(io.Writer) io.Writer) error {
	if !littleEndianHost {
		return fmt.Errorf("save checkpoint %s: big-endian hosts are not supported", path)
	}
	meta.fillVersions()
	type item struct {
		v *model.Variable
		t *tensors.Tensor
	}
	var items []item
	hdr := checkpointHeader{Meta: meta, Tensors: []TensorInfo{}}
	var offset int64
	for v := range store.IterVariables() {
		t, err := v.Value()
		if err != nil {
			return fmt.Errorf("save checkpoint %s: variable %q: %w", path, v.Path(), err)
		}
		info := TensorInfo{
			Name:      v.Path(),
			DType:     v.DType().String(),
			Shape:     append([]int{}, v.Shape().Dimensions...),
			Trainable: v.Trainable,
			Offset:    offset,
			Size:      v.Shape().ByteSize(),
		}
		err = t.ConstBytes(func(data []byte) {
			if int64(len(data)) != info.Size {
				err = fmt.Errorf("holds %d bytes, want %d for shape %s", len(data), info.Size, v.Shape())
				return
			}
			info.CRC32 = crc32.ChecksumIEEE(data)
		})
		if err != nil {
			return fmt.Errorf("save checkpoint %s: variable %q: %w", path, v.Path(), err)
		}
		offset += info.Size
		hdr.Tensors = append(hdr.Tensors, info)
		items = append(items, item{v, t})
	}
	header, err := json.Marshal(hdr)
	if err != nil {
		return fmt.Errorf("save checkpoint %s: header: %w", path, err)
	}
	if len(header) > maxHeaderLen {
		return fmt.Errorf("save checkpoint %s: header of %d bytes exceeds %d", path, len(header), maxHeaderLen)
	}
	return WriteAtomic(path, 0o644, func(w io.Writer) error {
		if wrap != nil {
			w = wrap(w)
		}
		var pre [16]byte
		copy(pre[:8], checkpointMagic)
		binary.LittleEndian.PutUint32(pre[8:], checkpointVersion)
		binary.LittleEndian.PutUint32(pre[12:], uint32(len(header)))
		if _, err := w.Write(pre[:]); err != nil {
			return err
		}
		if _, err := w.Write(header); err != nil {
			return err
		}
		var crc [4]byte
		binary.LittleEndian.PutUint32(crc[:], crc32.ChecksumIEEE(header))
		if _, err := w.Write(crc[:]); err != nil {
			return err
		}
		for i, it := range items {
			var werr error
			err := it.t.ConstBytes(func(data []byte) {
				if c := crc32.ChecksumIEEE(data); c != hdr.Tensors[i].CRC32 {
					werr = fmt.Errorf("variable %q changed while saving", it.v.Path())
					return
				}
				_, werr = w.Write(data)
			})
			if err == nil {
				err = werr
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// ReadMeta reads and checks the header of the checkpoint at path and returns
// its metadata and tensor index, without reading the tensors.
func ReadMeta(path string) (Meta, []TensorInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return Meta{}, nil, fmt.Errorf("read checkpoint: %w", err)
	}
	defer f.Close()
	hdr, _, err := readHeader(f, path)
	if err != nil {
		return Meta{}, nil, err
	}
	return hdr.Meta, hdr.Tensors, nil
}

// readHeader reads and validates the header; it returns it with the parsed
// shapes of its entries, leaving f at the start of the data section.
func readHeader(f *os.File, path string) (*checkpointHeader, []shapes.Shape, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("checkpoint %s: %s", path, fmt.Sprintf(format, args...))
	}
	st, err := f.Stat()
	if err != nil {
		return nil, nil, fail("%v", err)
	}
	fileSize := st.Size()
	var pre [16]byte
	if _, err := io.ReadFull(f, pre[:]); err != nil {
		return nil, nil, fail("not a checkpoint or truncated: file has %d bytes", fileSize)
	}
	if string(pre[:8]) != checkpointMagic {
		return nil, nil, fail("not a ghmdet checkpoint (bad magic %q)", pre[:8])
	}
	if v := binary.LittleEndian.Uint32(pre[8:]); v != checkpointVersion {
		return nil, nil, fail("unsupported format version %d (want %d)", v, checkpointVersion)
	}
	hlen := int64(binary.LittleEndian.Uint32(pre[12:]))
	if hlen > maxHeaderLen || 16+hlen+4 > fileSize {
		return nil, nil, fail("truncated or corrupt: header length %d, file size %d", hlen, fileSize)
	}
	buf := make([]byte, hlen+4)
	if _, err := io.ReadFull(f, buf); err != nil {
		return nil, nil, fail("truncated header: %v", err)
	}
	header := buf[:hlen]
	if want, got := binary.LittleEndian.Uint32(buf[hlen:]), crc32.ChecksumIEEE(header); want != got {
		return nil, nil, fail("corrupt header (CRC-32 %08x, want %08x)", got, want)
	}
	var hdr checkpointHeader
	dec := json.NewDecoder(bytes.NewReader(header))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&hdr); err != nil {
		return nil, nil, fail("header: %v", err)
	}
	dataStart := 16 + hlen + 4
	var offset int64
	seen := make(map[string]bool, len(hdr.Tensors))
	shp := make([]shapes.Shape, len(hdr.Tensors))
	for i, e := range hdr.Tensors {
		if !strings.HasPrefix(e.Name, "/") || seen[e.Name] {
			return nil, nil, fail("entry %d: invalid or duplicate variable name %q", i, e.Name)
		}
		seen[e.Name] = true
		dt, err := dtypes.DTypeString(e.DType)
		if err != nil || dt == dtypes.InvalidDType || !dt.IsSupported() {
			return nil, nil, fail("variable %q: unsupported dtype %q", e.Name, e.DType)
		}
		// Bound the element count before computing byte sizes (no overflow;
		// packed dtypes hold up to 8 elements per byte).
		n, maxElems := int64(1), 8*fileSize
		for _, d := range e.Shape {
			if d < 0 || (d > 0 && n > maxElems/int64(d)) {
				return nil, nil, fail("variable %q: invalid shape %v", e.Name, e.Shape)
			}
			n *= int64(d)
		}
		shp[i] = shapes.Make(dt, e.Shape...)
		if e.Offset != offset || e.Size != shp[i].ByteSize() {
			return nil, nil, fail("variable %q: offset %d size %d, want %d and %d for %s",
				e.Name, e.Offset, e.Size, offset, shp[i].ByteSize(), shp[i])
		}
		offset += e.Size
		if dataStart+offset > fileSize {
			return nil, nil, fail("truncated: variable %q ends at byte %d, file has %d", e.Name, dataStart+offset, fileSize)
		}
	}
	if dataStart+offset != fileSize {
		return nil, nil, fail("corrupt: %d trailing bytes after the last tensor", fileSize-dataStart-offset)
	}
	return &hdr, shp, nil
}

// Load reads the checkpoint at path into store and returns its metadata.
//
// Variables already in the store (e.g. created by building the model) must
// have the checkpoint's dtype and shape, and every variable of the store must
// be in the checkpoint; otherwise Load fails with an error wrapping
// ErrIncompatible that names the variable and both shapes. Checkpoint
// variables missing from the store (e.g. optimiser state before the first
// step, or all of them in an empty store) are created, with the trainable
// flag they were saved with; existing variables keep their flag.
//
// The whole file is read and checked (CRC-32 of the header and of every
// tensor) before the store is modified: on any error the store is unchanged.
// Truncated or corrupt files give an error, never a panic.
func Load(path string, store *model.Store) (meta Meta, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("checkpoint %s: %v", path, r)
		}
	}()
	if !littleEndianHost {
		return Meta{}, fmt.Errorf("load checkpoint %s: big-endian hosts are not supported", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return Meta{}, fmt.Errorf("load checkpoint: %w", err)
	}
	defer f.Close()
	hdr, shp, err := readHeader(f, path)
	if err != nil {
		return Meta{}, err
	}

	// Check compatibility with the store before reading the data.
	inCkpt := make(map[string]bool, len(hdr.Tensors))
	for i, e := range hdr.Tensors {
		inCkpt[e.Name] = true
		if v := store.GetVariable(e.Name); v != nil && !v.Shape().Equal(shp[i]) {
			return Meta{}, fmt.Errorf("load %s: variable %q has shape %s in the checkpoint but %s in the model: %w",
				path, e.Name, shp[i], v.Shape(), ErrIncompatible)
		}
	}
	var missing []string
	for v := range store.IterVariables() {
		if !inCkpt[v.Path()] {
			missing = append(missing, v.Path())
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		more := ""
		if len(missing) > 5 {
			more = fmt.Sprintf(" and %d more", len(missing)-5)
			missing = missing[:5]
		}
		return Meta{}, fmt.Errorf("load %s: the model has variables the checkpoint lacks: %s%s: %w",
			path, strings.Join(missing, ", "), more, ErrIncompatible)
	}

	r := bufio.NewReaderSize(f, 1<<20)
	values := make([]*tensors.Tensor, len(hdr.Tensors))
	for i, e := range hdr.Tensors {
		t := tensors.FromShape(shp[i])
		var rerr error
		if err := t.MutableBytes(func(data []byte) {
			if int64(len(data)) != e.Size {
				rerr = fmt.Errorf("tensor buffer has %d bytes, want %d", len(data), e.Size)
				return
			}
			if _, rerr = io.ReadFull(r, data); rerr != nil {
				return
			}
			if c := crc32.ChecksumIEEE(data); c != e.CRC32 {
				rerr = fmt.Errorf("corrupt data (CRC-32 %08x, want %08x)", c, e.CRC32)
			}
		}); err != nil {
			rerr = err
		}
		if rerr != nil {
			return Meta{}, fmt.Errorf("checkpoint %s: variable %q: %w", path, e.Name, rerr)
		}
		values[i] = t
	}

	for i, e := range hdr.Tensors {
		if v := store.GetVariable(e.Name); v != nil {
			if err := v.SetValue(values[i]); err != nil {
				return Meta{}, fmt.Errorf("load %s: variable %q: %w", path, e.Name, err)
			}
			continue
		}
		v, err := store.CreateVariable(e.Name, values[i])
		if err != nil {
			return Meta{}, fmt.Errorf("load %s: variable %q: %w", path, e.Name, err)
		}
		v.SetTrainable(e.Trainable)
	}
	return hdr.Meta, nil
}
