package campaign

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// DryRun is Check writing every sendable message into dir as
// ROW-ADDRESS.eml (the row zero-padded to six digits, so files sort in list
// order), the exact bytes send would hand to the relay. It creates dir if
// needed (0700) and returns how many files it wrote, each 0600: they hold
// addresses. The ledger is not touched.
func DryRun(ctx context.Context, opts CheckOptions, dir string) (*CheckReport, int, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, 0, fmt.Errorf("dry run: %w", err)
	}
	written := 0
	opts.Write = func(row int, m Message) error {
		path := filepath.Join(dir, dryRunFileName(row, m.To))
		if err := os.WriteFile(path, m.Data, 0o600); err != nil {
			return fmt.Errorf("dry run: %w", err)
		}
		written++
		return nil
	}
	rep, err := Check(ctx, opts)
	return rep, written, err
}

// dryRunFileName is the file a dry run writes row's message to. Characters
// an address may hold but a file name should not (/ \ : * ? " < > |) become
// "_", and a very long address is cut so the name fits in 255 bytes.
func dryRunFileName(row int, addr string) string {
	safe := strings.Map(func(r rune) rune {
		if strings.ContainsRune(`/\:*?"<>|`, r) || r < ' ' {
			return '_'
		}
		return r
	}, addr)
	for len(safe) > 200 {
		_, size := utf8.DecodeLastRuneInString(safe)
		safe = safe[:len(safe)-size]
	}
	return fmt.Sprintf("%06d-%s.eml", row, safe)
}
