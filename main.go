// Command mailblast sends a personalised message to every row of a CSV list
// through an SMTP relay, keeping every outcome in a durable ledger.
package main

import (
	"os"

	"github.com/mailblast/mailblast/cmd"
)

func main() { os.Exit(cmd.Main()) }
