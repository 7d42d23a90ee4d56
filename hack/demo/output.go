package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// printer writes the demo's story: a numbered heading per step, what the step did and saw, and
// one line that says the step was observed ("ok N: ...") or that it failed ("FAILED N ...").
// Those two forms are what the demo's test looks for, so they stay stable.
//
// A mutex guards the writer: in interactive mode a goroutine reports leadership changes while
// the main one may be printing.
type printer struct {
	mu sync.Mutex
	w  io.Writer
}

const (
	indent       = "   "
	outputIndent = "     "
)

func (p *printer) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format, args...)
}

func (p *printer) heading(n int, title string) { p.printf("\n== %d. %s\n", n, title) }

func (p *printer) section(title string) { p.printf("\n== %s\n", title) }

// info prints a line of explanation or observation under the current heading.
func (p *printer) info(format string, args ...any) {
	p.printf("%s%s\n", indent, fmt.Sprintf(format, args...))
}

func (p *printer) ok(n int, summary string) { p.printf("%sok %d: %s\n", indent, n, summary) }

func (p *printer) failed(n int, title string, err error) {
	p.printf("%sFAILED %d (%s): %v\n", indent, n, title, err)
}

// command shows a command line the way a person would type it.
func (p *printer) command(name string, args ...string) {
	p.printf("%s$ %s\n", indent, strings.Join(append([]string{name}, args...), " "))
}

// block prints a command's output or a file, indented under the command.
func (p *printer) block(text string) {
	text = strings.TrimRight(text, "\n")
	if text == "" {
		return
	}
	var b strings.Builder
	for line := range strings.SplitSeq(text, "\n") {
		b.WriteString(outputIndent + line + "\n")
	}
	p.printf("%s", b.String())
}

// data prints a ConfigMap's data, one key per line, in key order.
func (p *printer) data(name string, data map[string]string) {
	p.info("ConfigMap %s data:", name)
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(data)) {
		fmt.Fprintf(&b, "%s: %q\n", k, data[k])
	}
	if len(data) == 0 {
		b.WriteString("(empty)\n")
	}
	p.block(b.String())
}

// seconds formats a duration for people: 7ms, 0.42s, 12.3s.
func seconds(d time.Duration) string {
	if d < 100*time.Millisecond {
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	if d < 10*time.Second {
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}
