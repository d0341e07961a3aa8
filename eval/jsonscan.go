package eval

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// scanner is a small, allocation-light JSON reader for the COCO files: it
// walks objects and arrays with callbacks, decodes the few fields the
// evaluator needs and skips the rest (segmentations, licences, ...). Like
// Python's json module (which the reference uses) it accepts the literals
// NaN, Infinity and -Infinity as numbers, so that such values are reported
// as invalid numbers rather than as syntax errors. Errors carry the line and
// column.
type scanner struct {
	buf []byte
	pos int
}

// posError is an error at a position of the input.
type posError struct {
	line, col int
	err       error
}

func (e *posError) Error() string {
	return fmt.Sprintf("line %d, column %d: %v", e.line, e.col, e.err)
}

func (e *posError) Unwrap() error { return e.err }

// locate returns err located at byte offset pos, unless it already carries
// a position.
func (s *scanner) locate(pos int, err error) error {
	var pe *posError
	if errors.As(err, &pe) {
		return err
	}
	if pos > len(s.buf) {
		pos = len(s.buf)
	}
	line := 1 + bytes.Count(s.buf[:pos], []byte{'\n'})
	col := pos - bytes.LastIndexByte(s.buf[:pos], '\n')
	return &posError{line: line, col: col, err: err}
}

// errorAt returns an error located at byte offset pos.
func (s *scanner) errorAt(pos int, format string, args ...any) error {
	return s.locate(pos, fmt.Errorf(format, args...))
}

func (s *scanner) errorf(format string, args ...any) error {
	return s.errorAt(s.pos, format, args...)
}

// ws skips white space.
func (s *scanner) ws() {
	for s.pos < len(s.buf) {
		switch s.buf[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// peek skips white space and returns the next byte (0 at the end).
func (s *scanner) peek() byte {
	s.ws()
	if s.pos >= len(s.buf) {
		return 0
	}
	return s.buf[s.pos]
}

// describe names the next token for error messages.
func (s *scanner) describe() string {
	c := s.peek()
	switch {
	case c == 0:
		return "end of file"
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || c == 'N' || c == 'I' || (c >= '0' && c <= '9'):
		return "a number"
	}
	return fmt.Sprintf("%q", c)
}

// end checks that only white space remains.
func (s *scanner) end() error {
	if s.peek() != 0 {
		return s.errorf("unexpected %s after the top-level value", s.describe())
	}
	return nil
}

// array reads an array, calling elem for each element with its index; elem
// must consume the element.
func (s *scanner) array(elem func(i int) error) error {
	if s.peek() != '[' {
		return s.errorf("expected an array, found %s", s.describe())
	}
	s.pos++
	if s.peek() == ']' {
		s.pos++
		return nil
	}
	for i := 0; ; i++ {
		s.ws()
		if err := elem(i); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.pos++
		case ']':
			s.pos++
			return nil
		default:
			return s.errorf("expected ',' or ']' after an array element, found %s", s.describe())
		}
	}
}

// object reads an object, calling field for each key (raw bytes, escapes
// decoded); field must consume the value.
func (s *scanner) object(field func(key []byte) error) error {
	if s.peek() != '{' {
		return s.errorf("expected an object, found %s", s.describe())
	}
	s.pos++
	if s.peek() == '}' {
		s.pos++
		return nil
	}
	for {
		if s.peek() != '"' {
			return s.errorf("expected a string key, found %s", s.describe())
		}
		raw, esc, err := s.rawString()
		if err != nil {
			return err
		}
		key := raw
		if esc {
			str, err := unescape(raw)
			if err != nil {
				return s.errorf("bad key string: %v", err)
			}
			key = []byte(str)
		}
		if s.peek() != ':' {
			return s.errorf("expected ':' after key %q, found %s", key, s.describe())
		}
		s.pos++
		s.ws()
		if err := field(key); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return nil
		default:
			return s.errorf("expected ',' or '}' after a value, found %s", s.describe())
		}
	}
}

// rawString reads a string and returns its raw content (without quotes) and
// whether it holds escapes.
func (s *scanner) rawString() (raw []byte, esc bool, err error) {
	if s.peek() != '"' {
		return nil, false, s.errorf("expected a string, found %s", s.describe())
	}
	start := s.pos
	s.pos++
	for s.pos < len(s.buf) {
		c := s.buf[s.pos]
		switch {
		case c == '"':
			raw = s.buf[start+1 : s.pos]
			s.pos++
			return raw, esc, nil
		case c == '\\':
			esc = true
			s.pos += 2
		case c < 0x20:
			return nil, false, s.errorf("control character in a string")
		default:
			s.pos++
		}
	}
	return nil, false, s.errorAt(start, "unterminated string")
}

// unescape decodes a string's raw content with escapes.
func unescape(raw []byte) (string, error) {
	quoted := make([]byte, 0, len(raw)+2)
	quoted = append(quoted, '"')
	quoted = append(quoted, raw...)
	quoted = append(quoted, '"')
	var str string
	if err := json.Unmarshal(quoted, &str); err != nil {
		return "", err
	}
	return str, nil
}

// str reads a string value.
func (s *scanner) str() (string, error) {
	start := s.pos
	raw, esc, err := s.rawString()
	if err != nil {
		return "", err
	}
	if !esc {
		return string(raw), nil
	}
	str, err := unescape(raw)
	if err != nil {
		return "", s.errorAt(start, "bad string: %v", err)
	}
	return str, nil
}

// numberToken scans a number (JSON grammar, plus NaN, Infinity, -Infinity)
// and returns its bytes and whether it is a plain integer.
func (s *scanner) numberToken() (tok []byte, integer bool, err error) {
	s.ws()
	start := s.pos
	b := s.buf
	n := len(b)
	i := start
	if i < n && b[i] == '-' {
		i++
	}
	for _, lit := range [...]string{"NaN", "Infinity"} {
		if bytes.HasPrefix(b[i:], []byte(lit)) && (lit == "Infinity" || i == start) {
			s.pos = i + len(lit)
			return b[start:s.pos], false, nil
		}
	}
	digits := i
	for i < n && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	if i == digits {
		return nil, false, s.errorf("expected a number, found %s", s.describe())
	}
	if b[digits] == '0' && i-digits > 1 {
		return nil, false, s.errorf("number with a leading zero")
	}
	integer = true
	if i < n && b[i] == '.' {
		integer = false
		i++
		f := i
		for i < n && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == f {
			return nil, false, s.errorAt(i, "expected a digit after the decimal point")
		}
	}
	if i < n && (b[i] == 'e' || b[i] == 'E') {
		integer = false
		i++
		if i < n && (b[i] == '+' || b[i] == '-') {
			i++
		}
		f := i
		for i < n && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == f {
			return nil, false, s.errorAt(i, "expected a digit in the exponent")
		}
	}
	s.pos = i
	return b[start:i], integer, nil
}

// number reads a number as float64 (NaN and infinities included; values
// beyond the float64 range become infinities, as in Python).
func (s *scanner) number() (float64, error) {
	tok, integer, err := s.numberToken()
	if err != nil {
		return 0, err
	}
	if integer && len(tok) <= 16 {
		// Fast path: at most 15 digits convert exactly.
		neg := tok[0] == '-'
		d := tok
		if neg {
			d = d[1:]
		}
		var v int64
		for _, c := range d {
			v = v*10 + int64(c-'0')
		}
		if neg {
			return -float64(v), nil
		}
		return float64(v), nil
	}
	switch string(tok) {
	case "NaN":
		return math.NaN(), nil
	case "Infinity":
		return math.Inf(1), nil
	case "-Infinity":
		return math.Inf(-1), nil
	}
	v, err := strconv.ParseFloat(string(tok), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, s.errorf("bad number %q", tok)
	}
	return v, nil
}

// maxExactInt is the largest integer up to which every integer is a float64.
const maxExactInt = 1 << 53

// integer reads an integer id: an integer literal, or a number with an
// integral value (Python's json turns 42.0 into a float that the reference
// still matches with 42).
func (s *scanner) integer() (int64, error) {
	start := s.pos
	tok, integer, err := s.numberToken()
	if err != nil {
		return 0, err
	}
	if integer {
		v, err := strconv.ParseInt(string(tok), 10, 64)
		if err != nil {
			return 0, s.errorAt(start, "integer %s is out of range", tok)
		}
		return v, nil
	}
	s.pos = start
	v, err := s.number()
	if err != nil {
		return 0, err
	}
	if v != math.Trunc(v) || math.Abs(v) > maxExactInt {
		return 0, s.errorAt(start, "expected an integer, found %s", tok)
	}
	return int64(v), nil
}

// boolOrNumber reads an iscrowd-like flag: true/false or a number (nonzero
// is true), as Python's truth test does.
func (s *scanner) boolOrNumber() (bool, error) {
	switch s.peek() {
	case 't':
		if bytes.HasPrefix(s.buf[s.pos:], []byte("true")) {
			s.pos += 4
			return true, nil
		}
	case 'f':
		if bytes.HasPrefix(s.buf[s.pos:], []byte("false")) {
			s.pos += 5
			return false, nil
		}
	default:
		v, err := s.number()
		if err != nil {
			return false, err
		}
		if math.IsNaN(v) {
			return false, s.errorf("flag is NaN")
		}
		return v != 0, nil
	}
	return false, s.errorf("expected true, false or a number, found %s", s.describe())
}

// box reads a bbox: an array of exactly 4 numbers.
func (s *scanner) box() ([4]float64, error) {
	var b [4]float64
	start := s.pos
	n := 0
	err := s.array(func(i int) error {
		if i >= 4 {
			return s.errorAt(start, "has more than 4 numbers")
		}
		v, err := s.number()
		if err != nil {
			return err
		}
		b[i] = v
		n++
		return nil
	})
	if err != nil {
		return b, err
	}
	if n != 4 {
		return b, s.errorAt(start, "has %d numbers, want 4 (x, y, w, h)", n)
	}
	return b, nil
}

// skip consumes any value.
func (s *scanner) skip() error {
	switch c := s.peek(); c {
	case '{':
		return s.object(func([]byte) error { return s.skip() })
	case '[':
		return s.array(func(int) error { return s.skip() })
	case '"':
		_, _, err := s.rawString()
		return err
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	default:
		_, _, err := s.numberToken()
		return err
	}
}

func (s *scanner) literal(lit string) error {
	if !bytes.HasPrefix(s.buf[s.pos:], []byte(lit)) {
		return s.errorf("invalid literal")
	}
	s.pos += len(lit)
	return nil
}
