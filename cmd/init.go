package cmd

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

//go:embed skeleton
var skeleton embed.FS

func newInitCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "init [DIR]",
		Short: "Write a commented mailblast.yaml, a message.tmpl, a two-row list.csv and a crontab.example",
		Long: `init writes a starting point into DIR (default: the current directory):
mailblast.yaml with every common setting explained, message.tmpl, list.csv
with two example rows, and crontab.example. It never overwrites a file: the
ones that exist already are left as they are and named.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			return runInit(c.OutOrStdout(), dir)
		},
	}
}

func runInit(out interface{ Write([]byte) (int, error) }, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	abs, _ := filepath.Abs(dir)
	entries, _ := skeleton.ReadDir("skeleton")
	for _, e := range entries {
		b, _ := skeleton.ReadFile("skeleton/" + e.Name())
		text := strings.ReplaceAll(string(b), "cd DIR", "cd "+abs)
		text = strings.ReplaceAll(text, "BINARY", binaryPath())
		p := filepath.Join(dir, e.Name())
		err := writeNew(p, text)
		switch {
		case errors.Is(err, fs.ErrExist):
			fmt.Fprintf(out, "kept   %s (it exists)\n", p)
		case err != nil:
			return err
		default:
			fmt.Fprintf(out, "wrote  %s\n", p)
		}
	}
	fmt.Fprintln(out, "next: edit mailblast.yaml and list.csv, then `mailblast validate list.csv` and `mailblast preview list.csv`")
	return nil
}

// binaryPath is this mailblast's full path, for cron, whose PATH lacks
// /usr/local/bin and ~/go/bin.
func binaryPath() string {
	if p, err := os.Executable(); err == nil {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			return r
		}
		return p
	}
	return "mailblast"
}

// writeNew creates p with text, failing with fs.ErrExist rather than
// replacing anything: init must never destroy a user's file.
func writeNew(p, text string) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
