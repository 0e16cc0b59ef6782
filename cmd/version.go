package cmd

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
)

// version is set at release time: -ldflags "-X github.com/mailblast/mailblast/cmd.version=1.2.3".
var version = "dev"

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  noArgs,
		Run: func(c *cobra.Command, args []string) {
			fmt.Fprintln(c.OutOrStdout(), versionLine())
		},
	}
}

func versionLine() string {
	return fmt.Sprintf("mailblast %s (%s, %s/%s)", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
