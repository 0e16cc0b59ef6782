package templates

import (
	"bytes"
	"errors"
	"fmt"
)

// MaxRendered bounds what one template (a header, the text body or the HTML
// body) may render for one row. A template that calls itself, or a range
// over a large field, could otherwise grow without end: the process was
// seen at 20 GB. Relays refuse messages far smaller (SES 40 MB, Gmail 25 MB).
const MaxRendered = 32 << 20

// ErrTooLarge is a template that rendered more than MaxRendered bytes.
var ErrTooLarge = errors.New("rendered more than the limit")

// capped is a writer into buf that fails once it would pass the limit;
// text/template stops at the first failed write.
type capped struct {
	buf   *bytes.Buffer
	limit int
}

func (c *capped) Write(p []byte) (int, error) {
	if c.buf.Len()+len(p) > c.limit {
		return 0, fmt.Errorf("%w of %d MiB", ErrTooLarge, c.limit>>20)
	}
	return c.buf.Write(p)
}
