package report

import (
	"fmt"
	"html/template"
	"io"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/ghmdet/ghmdet/internal/atomicfile"
)

// Report is the content of a run report: a title, key-value summary lines,
// tables, figures and free-text notes, written by WriteReport as Markdown and
// as a self-contained HTML page.
type Report struct {
	Title   string
	Summary [][2]string // key, value
	Tables  []Table
	Images  []Figure
	Notes   []string
}

// Table is a titled table of text cells. Rows shorter than Header are padded
// with empty cells; longer rows keep their extra cells.
type Table struct {
	Title  string
	Header []string
	Rows   [][]string
}

// Figure is an image shown in the report: Path is relative to the report's
// folder (an absolute path inside that folder is made relative).
type Figure struct {
	Title string
	Path  string
}

// WriteReport writes dir/report.md and dir/report.html (both atomically) for
// r. The folder must exist. Text is escaped for each format: Markdown
// punctuation is backslash-escaped and HTML special characters are turned into
// entities, so names like "a<b>|c" show as written.
func WriteReport(dir string, r Report) error { return WriteReportAs(dir, "report", r) }

// WriteReportAs is WriteReport with another file name: dir/base.md and
// dir/base.html.
func WriteReportAs(dir, base string, r Report) error {
	figs := make([]Figure, len(r.Images))
	for i, f := range r.Images {
		p, err := relativeImagePath(dir, f.Path)
		if err != nil {
			return fmt.Errorf("report in %s: figure %d (%q): %w", dir, i, f.Title, err)
		}
		figs[i] = Figure{Title: f.Title, Path: p}
	}
	if err := atomicfile.Write(filepath.Join(dir, base+".md"), 0o644, func(w io.Writer) error {
		return writeMarkdown(w, r, figs)
	}); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, base+".html"), 0o644, func(w io.Writer) error {
		return writeHTML(w, r, figs)
	})
}

// relativeImagePath returns p as a slash-separated URL path relative to dir,
// each segment percent-escaped.
func relativeImagePath(dir, p string) (string, error) {
	if p == "" {
		return "", fmt.Errorf("empty image path")
	}
	if filepath.IsAbs(p) {
		absDir, err := filepath.Abs(dir)
		if err != nil {
			return "", err
		}
		rel, err := filepath.Rel(absDir, p)
		if err != nil {
			return "", err
		}
		p = rel
	}
	segs := strings.Split(filepath.ToSlash(p), "/")
	for i, s := range segs {
		segs[i] = strings.NewReplacer("(", "%28", ")", "%29").Replace(url.PathEscape(s))
	}
	return strings.Join(segs, "/"), nil
}

// mdEscaper backslash-escapes the characters that Markdown (CommonMark and
// GitHub tables) would interpret inside a line, and flattens line breaks.
var mdEscaper = strings.NewReplacer(
	`\`, `\\`, "`", "\\`", `*`, `\*`, `_`, `\_`, `[`, `\[`, `]`, `\]`,
	`|`, `\|`, `<`, `\<`, `>`, `\>`, `&`, `\&`,
	"\r\n", " ", "\n", " ", "\r", " ",
)

// md escapes s for inline Markdown text (table cells, headings).
func md(s string) string { return mdEscaper.Replace(s) }

// mdItem escapes s for the text of a list item: a leading character that
// would open a nested block (list item, heading, ordered list "1.") is
// escaped too.
func mdItem(s string) string {
	e := mdEscaper.Replace(s)
	if e != "" && strings.ContainsRune("-+#=", rune(e[0])) {
		return `\` + e
	}
	i := 0
	for i < len(e) && e[i] >= '0' && e[i] <= '9' {
		i++
	}
	if i > 0 && i < len(e) && (e[i] == '.' || e[i] == ')') {
		return e[:i] + `\` + e[i:]
	}
	return e
}

func writeMarkdown(w io.Writer, r Report, figs []Figure) error {
	var b strings.Builder
	title := r.Title
	if title == "" {
		title = "Run report"
	}
	fmt.Fprintf(&b, "# %s\n\n", md(title))
	if len(r.Summary) > 0 {
		b.WriteString("| | |\n|---|---|\n")
		for _, kv := range r.Summary {
			fmt.Fprintf(&b, "| **%s** | %s |\n", md(kv[0]), md(kv[1]))
		}
		b.WriteString("\n")
	}
	for _, t := range r.Tables {
		if t.Title != "" {
			fmt.Fprintf(&b, "## %s\n\n", md(t.Title))
		}
		cols := len(t.Header)
		for _, row := range t.Rows {
			cols = max(cols, len(row))
		}
		if cols == 0 {
			b.WriteString("(empty table)\n\n")
			continue
		}
		cells := func(row []string) {
			b.WriteString("|")
			for i := range cols {
				v := ""
				if i < len(row) {
					v = md(row[i])
				}
				fmt.Fprintf(&b, " %s |", v)
			}
			b.WriteString("\n")
		}
		cells(t.Header)
		b.WriteString("|")
		for range cols {
			b.WriteString("---|")
		}
		b.WriteString("\n")
		for _, row := range t.Rows {
			cells(row)
		}
		b.WriteString("\n")
	}
	if len(figs) > 0 {
		b.WriteString("## Figures\n\n")
		for _, f := range figs {
			if f.Title != "" {
				fmt.Fprintf(&b, "### %s\n\n", md(f.Title))
			}
			fmt.Fprintf(&b, "![%s](%s)\n\n", md(f.Title), f.Path)
		}
	}
	if len(r.Notes) > 0 {
		b.WriteString("## Notes\n\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", mdItem(n))
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// htmlPage is the report page; html/template escapes every value in its
// context (text, attribute, URL).
var htmlPage = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body { font-family: -apple-system, "Segoe UI", Roboto, "Liberation Sans", Arial, sans-serif; margin: 2em auto; max-width: 1100px; padding: 0 1em; color: #111; line-height: 1.45; }
h1 { font-size: 1.6em; border-bottom: 2px solid #ddd; padding-bottom: .3em; }
h2 { font-size: 1.25em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: .95em; }
th, td { border: 1px solid #ccc; padding: .3em .7em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.summary th { background: #fafafa; font-weight: 600; }
figure { margin: 1em 0 2em; }
figure img { max-width: 100%; border: 1px solid #e3e3e3; }
figcaption { color: #555; font-size: .95em; margin-top: .3em; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
{{if .Summary}}<table class="summary">
{{range .Summary}}<tr><th>{{index . 0}}</th><td>{{index . 1}}</td></tr>
{{end}}</table>
{{end}}{{range .Tables}}{{if .Title}}<h2>{{.Title}}</h2>
{{end}}<table>
{{if .Header}}<thead><tr>{{range .Header}}<th>{{.}}</th>{{end}}</tr></thead>
{{end}}<tbody>
{{range .Rows}}<tr>{{range .}}<td{{if .Num}} class="num"{{end}}>{{.Text}}</td>{{end}}</tr>
{{end}}</tbody>
</table>
{{end}}{{if .Images}}<h2>Figures</h2>
{{range .Images}}<figure>
<img src="{{.Path}}" alt="{{.Title}}">
{{if .Title}}<figcaption>{{.Title}}</figcaption>
{{end}}</figure>
{{end}}{{end}}{{if .Notes}}<h2>Notes</h2>
<ul>
{{range .Notes}}<li>{{.}}</li>
{{end}}</ul>
{{end}}</body>
</html>
`))

type htmlCell struct {
	Text string
	Num  bool
}

type htmlTable struct {
	Title  string
	Header []string
	Rows   [][]htmlCell
}

func writeHTML(w io.Writer, r Report, figs []Figure) error {
	title := r.Title
	if title == "" {
		title = "Run report"
	}
	tables := make([]htmlTable, len(r.Tables))
	for i, t := range r.Tables {
		cols := len(t.Header)
		for _, row := range t.Rows {
			cols = max(cols, len(row))
		}
		ht := htmlTable{Title: t.Title, Header: t.Header}
		if len(ht.Header) > 0 && len(ht.Header) < cols {
			ht.Header = append(append([]string(nil), t.Header...), make([]string, cols-len(t.Header))...)
		}
		for _, row := range t.Rows {
			cells := make([]htmlCell, cols)
			for j := range cells {
				if j < len(row) {
					cells[j] = htmlCell{Text: row[j], Num: looksNumeric(row[j])}
				}
			}
			ht.Rows = append(ht.Rows, cells)
		}
		tables[i] = ht
	}
	data := struct {
		Title   string
		Summary [][2]string
		Tables  []htmlTable
		Images  []Figure
		Notes   []string
	}{title, r.Summary, tables, figs, r.Notes}
	return htmlPage.Execute(w, data)
}

// looksNumeric reports whether a table cell reads as a number (right-aligned
// in HTML): digits with an optional sign, point, exponent or trailing %.
func looksNumeric(s string) bool {
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(s, "%")
	if s == "" {
		return false
	}
	digits := 0
	for i, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' || c == 'e' || c == 'E':
		case (c == '-' || c == '+') && (i == 0 || s[i-1] == 'e' || s[i-1] == 'E'):
		default:
			return false
		}
	}
	return digits > 0
}
