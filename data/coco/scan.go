package coco

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// scanner is a small, allocation-light JSON reader for COCO files: it walks
// objects and arrays with callbacks, decodes the few fields the readers need
// and skips the rest (segmentations, licences, ...) after checking their
// syntax. Like Python's json module (which pycocotools uses) it accepts the
// literals NaN, Infinity and -Infinity as numbers, so that such values are
// reported as invalid numbers rather than as syntax errors.
//
// Two kinds of failure are kept apart. A syntax error ends the reading: it is
// returned as an error (a *SyntaxError) with the line and column. A value of
// the wrong kind or range (a string id, a fractional id, a bbox of 3 numbers)
// is a problem of its record: the decoders consume the value and return the
// problem as a message, and the reader goes on with the next field.
type scanner struct {
	buf []byte
	pos int
	// linePos and line cache the number of newlines before the last
	// located position, so that locating errors in file order costs one
	// pass.
	linePos, line int
}

// SyntaxError is a JSON syntax error (or a COCO file whose structure is
// wrong where nothing can be read past it), with its position.
type SyntaxError struct {
	// Line and Column are 1-based; Column counts bytes.
	Line, Column int
	// Msg says what is wrong.
	Msg string
}

// Error returns "line L, column C: MSG".
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Msg)
}

// errorAt returns a *SyntaxError at byte offset pos.
func (s *scanner) errorAt(pos int, format string, args ...any) error {
	pos = min(max(pos, 0), len(s.buf))
	if pos < s.linePos {
		s.linePos, s.line = 0, 0
	}
	s.line += bytes.Count(s.buf[s.linePos:pos], []byte{'\n'})
	s.linePos = pos
	col := pos - bytes.LastIndexByte(s.buf[:pos], '\n')
	return &SyntaxError{Line: s.line + 1, Column: col, Msg: fmt.Sprintf(format, args...)}
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

// describe names the next token for messages.
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
		return s.errorf("found %s after the top-level value, want the end of the file", s.describe())
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
		start := s.pos
		raw, esc, err := s.rawString()
		if err != nil {
			return err
		}
		key := raw
		if esc {
			str, err := unescape(raw)
			if err != nil {
				return s.errorAt(start, "bad key string: %v", err)
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

// null consumes a null and reports whether there was one.
func (s *scanner) null() bool {
	if s.peek() == 'n' && bytes.HasPrefix(s.buf[s.pos:], []byte("null")) {
		s.pos += 4
		return true
	}
	return false
}

// mismatch consumes a value of the wrong kind and returns the problem
// "FIELD: expected WANT, found KIND" (without "FIELD: " when field is
// empty).
func (s *scanner) mismatch(field, want string) (string, error) {
	found := s.describe()
	if err := s.skip(); err != nil {
		return "", err
	}
	if field == "" {
		return fmt.Sprintf("expected %s, found %s", want, found), nil
	}
	return fmt.Sprintf("%s: expected %s, found %s", field, want, found), nil
}

// str reads a string value of field.
func (s *scanner) str(field string) (v, problem string, err error) {
	if s.peek() != '"' {
		problem, err = s.mismatch(field, "a string")
		return "", problem, err
	}
	raw, esc, err := s.rawString()
	if err != nil {
		return "", "", err
	}
	if !esc {
		return string(raw), "", nil
	}
	v, uerr := unescape(raw)
	if uerr != nil {
		return "", fmt.Sprintf("%s: bad string: %v", field, uerr), nil
	}
	return v, "", nil
}

// isNumberStart reports whether c can start a number (NaN and Infinity
// included).
func isNumberStart(c byte) bool {
	return c == '-' || c == 'N' || c == 'I' || (c >= '0' && c <= '9')
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
	if i < n && (b[i] == 'N' || b[i] == 'I') {
		for _, lit := range [...]string{"NaN", "Infinity"} {
			if bytes.HasPrefix(b[i:], []byte(lit)) && (lit == "Infinity" || i == start) {
				s.pos = i + len(lit)
				return b[start:s.pos], false, nil
			}
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

// parseNumber converts a number token (NaN and infinities included; values
// beyond the float64 range become infinities, as in Python).
func parseNumber(tok []byte, integer bool) (float64, bool) {
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
			return -float64(v), true
		}
		return float64(v), true
	}
	switch string(tok) {
	case "NaN":
		return math.NaN(), true
	case "Infinity":
		return math.Inf(1), true
	case "-Infinity":
		return math.Inf(-1), true
	}
	v, err := strconv.ParseFloat(string(tok), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, false
	}
	return v, true
}

// number reads a number value of field (NaN and infinities included: the
// checks reject them with their own messages).
func (s *scanner) number(field string) (v float64, problem string, err error) {
	if !isNumberStart(s.peek()) {
		problem, err = s.mismatch(field, "a number")
		return 0, problem, err
	}
	tok, integer, err := s.numberToken()
	if err != nil {
		return 0, "", err
	}
	v, ok := parseNumber(tok, integer)
	if !ok {
		return 0, fmt.Sprintf("%s: bad number %s", field, tok), nil
	}
	return v, "", nil
}

// maxExactInt is the largest integer up to which every integer is a float64.
const maxExactInt = 1 << 53

// integer reads an integer value of field: an integer literal, or a number
// with an integral value (Python's json turns 42.0 into a float that the
// reference evaluator still matches with 42).
func (s *scanner) integer(field string) (v int64, problem string, err error) {
	if !isNumberStart(s.peek()) {
		problem, err = s.mismatch(field, "a number")
		return 0, problem, err
	}
	tok, integer, err := s.numberToken()
	if err != nil {
		return 0, "", err
	}
	if integer {
		if len(tok) <= 18 { // fits an int64 without overflow checks
			neg := tok[0] == '-'
			d := tok
			if neg {
				d = d[1:]
			}
			for _, c := range d {
				v = v*10 + int64(c-'0')
			}
			if neg {
				v = -v
			}
			return v, "", nil
		}
		v, perr := strconv.ParseInt(string(tok), 10, 64)
		if perr != nil {
			return 0, fmt.Sprintf("%s: integer %s is out of range", field, tok), nil
		}
		return v, "", nil
	}
	f, ok := parseNumber(tok, false)
	if !ok || f != math.Trunc(f) || math.Abs(f) > maxExactInt {
		return 0, fmt.Sprintf("%s: expected an integer, found %s", field, tok), nil
	}
	return int64(f), "", nil
}

// intID reads an id of field that must fit an int (category ids).
func (s *scanner) intID(field string) (int, string, error) {
	v, problem, err := s.integer(field)
	if problem == "" && err == nil && v != int64(int(v)) {
		problem = fmt.Sprintf("%s: %d is out of range", field, v)
	}
	return int(v), problem, err
}

// flag reads an iscrowd-like flag: true, false or a number. other is true
// for a number other than 0 and 1, which counts as true (nonzero), as
// Python's truth test does. A NaN is a problem.
func (s *scanner) flag(field string) (v, other bool, problem string, err error) {
	switch c := s.peek(); {
	case c == 't' && bytes.HasPrefix(s.buf[s.pos:], []byte("true")):
		s.pos += 4
		return true, false, "", nil
	case c == 'f' && bytes.HasPrefix(s.buf[s.pos:], []byte("false")):
		s.pos += 5
		return false, false, "", nil
	case isNumberStart(c):
		f, problem, err := s.number(field)
		if problem != "" || err != nil {
			return false, false, problem, err
		}
		if math.IsNaN(f) {
			return false, false, field + ": NaN is not a flag (0 or 1)", nil
		}
		return f != 0, f != 0 && f != 1, "", nil
	}
	problem, err = s.mismatch(field, "0, 1, true or false")
	return false, false, problem, err
}

// bboxFields name the bbox elements in messages.
var bboxFields = [4]string{"bbox[0]", "bbox[1]", "bbox[2]", "bbox[3]"}

// bbox reads a bbox value: an array of exactly 4 numbers.
func (s *scanner) bbox() (b [4]float64, problem string, err error) {
	if s.peek() != '[' {
		problem, err = s.mismatch("bbox", "an array of 4 numbers [x, y, w, h]")
		return b, problem, err
	}
	n := 0
	err = s.array(func(i int) error {
		if i >= 4 {
			if problem == "" {
				problem = "bbox: has more than 4 numbers, want 4 (x, y, w, h)"
			}
			return s.skip()
		}
		n++
		v, p, err := s.number(bboxFields[i])
		if p != "" && problem == "" {
			problem = p
		}
		b[i] = v
		return err
	})
	if err == nil && problem == "" && n != 4 {
		problem = fmt.Sprintf("bbox: has %d numbers, want 4 (x, y, w, h)", n)
	}
	return b, problem, err
}

// skip consumes any value, checking its syntax.
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
