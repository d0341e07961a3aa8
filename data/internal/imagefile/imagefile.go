// Package imagefile handles the image files of a dataset for the format
// readers and writers: their sizes read from file headers (Pascal VOC and
// YOLO readers), their placement into a dataset folder being written and safe
// relative names (COCO, Pascal VOC and YOLO writers).
package imagefile

import (
	"fmt"
	"image"
	"io"
	"os"
	"path/filepath"
	"strings"

	// Image decoders for reading image sizes from file headers.
	_ "image/jpeg"
	_ "image/png"

	_ "golang.org/x/image/bmp"
)

// Size returns the width and height of the image file at path (JPEG, PNG or
// BMP, recognised by content) read from its header, without decoding the
// pixels. The errors are those of opening the file and of
// image.DecodeConfig; a header may give a zero size.
func Size(path string) (int, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	cfg, _, err := image.DecodeConfig(f)
	if err != nil {
		return 0, 0, err
	}
	return cfg.Width, cfg.Height, nil
}

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
	if err := link(src, dst); err == nil {
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

// link makes the hard link of Place; tests replace it to take the copy path,
// which otherwise runs only where the file system refuses links.
var link = os.Link

// SafeName returns name as a clean relative slash-separated path; a name
// that is absolute or climbs out of its folder keeps only its base name.
func SafeName(name string) string {
	n := filepath.ToSlash(filepath.Clean(filepath.FromSlash(name)))
	if filepath.IsAbs(name) || n == ".." || strings.HasPrefix(n, "../") || strings.HasPrefix(n, "/") {
		return filepath.Base(filepath.FromSlash(name))
	}
	return n
}
