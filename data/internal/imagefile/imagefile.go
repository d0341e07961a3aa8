// Package imagefile places image files into a dataset folder being written
// (by the COCO, Pascal VOC and YOLO writers).
package imagefile

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Place puts the image file src at dst: nothing when src is empty or already
// dst, else a hard link or, when linking fails, a copy. A file already at dst
// is replaced and dst's folder is created.
func Place(src, dst string) error {
	if src == "" {
		return nil
	}
	as, err1 := filepath.Abs(src)
	ad, err2 := filepath.Abs(dst)
	if err1 == nil && err2 == nil && as == ad {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := os.Remove(dst); err != nil && !os.IsNotExist(err) {
		return err
	}
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("image %w", err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copying %s to %s: %w", src, dst, err)
	}
	return out.Close()
}

// SafeName returns name as a clean relative slash-separated path; a name
// that is absolute or climbs out of its folder keeps only its base name.
func SafeName(name string) string {
	n := filepath.ToSlash(filepath.Clean(filepath.FromSlash(name)))
	if filepath.IsAbs(name) || n == ".." || strings.HasPrefix(n, "../") || strings.HasPrefix(n, "/") {
		return filepath.Base(filepath.FromSlash(name))
	}
	return n
}
