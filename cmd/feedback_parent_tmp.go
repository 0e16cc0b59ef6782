package cmd

import "github.com/spf13/cobra"

// newFeedbackParentTmp is a TEMPORARY `feedback` parent so that `feedback
// fetch` runs on the fetch branch alone. Core's cmd/feedback.go has the
// real one, which adds feedbackFetchCmd(): delete this file and its line
// in newRootCommand at the merge.
func newFeedbackParentTmp() *cobra.Command {
	c := &cobra.Command{Use: "feedback", Short: "Bring bounces, complaints and unsubscribes back into the ledger", Args: noArgs}
	c.AddCommand(feedbackFetchCmd())
	return c
}
