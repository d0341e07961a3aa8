package train

import (
	"io"
	"os"

	"github.com/ghmdet/ghmdet/internal/atomicfile"
)

// WriteAtomic writes a file atomically: write streams the content into a
// temporary file in the same folder, which is flushed, fsync'ed, given mode
// perm and renamed over path; the folder is then fsync'ed. Readers see either
// the old file or the complete new one. On any error (from write included)
// the temporary file is removed and an existing file at path is untouched.
// It is atomicfile.Write.
func WriteAtomic(path string, perm os.FileMode, write func(w io.Writer) error) error {
	return atomicfile.Write(path, perm, write)
}

// WriteFileAtomic is WriteAtomic for content held in memory, a drop-in
// replacement for os.WriteFile. It is atomicfile.WriteFile.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	return atomicfile.WriteFile(path, data, perm)
}
