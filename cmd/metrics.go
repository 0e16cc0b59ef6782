package cmd

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/mailblast/mailblast/campaign"
	"github.com/mailblast/mailblast/metrics"
)

// metricsEvery is how often a long run rewrites its metrics file.
const metricsEvery = 15 * time.Second

// runMetrics is the metrics file of the send or resume this process runs,
// nil without --metrics-file. withMetrics sets it before the run starts
// and clears it after; runCampaign only reads it, on the same goroutine.
var runMetrics *metrics.File

func addMetricsFlag(f *pflag.FlagSet) {
	f.String("metrics-file", "", "write Prometheus metrics to FILE (node_exporter textfile collector) during and after the run")
}

// withMetrics runs run, writing the metrics file it is configured with
// at the start, every metricsEvery, and at the end with the exit code.
func withMetrics(cfg *Config, run func() error) error {
	if cfg.MetricsFile == "" {
		return run()
	}
	m := metrics.New(cfg.MetricsFile, time.Now())
	if err := m.Write(); err != nil {
		return configErrorf("metrics_file: %w", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Loop(ctx, metricsEvery) }()
	runMetrics = m
	err := run()
	runMetrics = nil
	stop()
	<-done
	if werr := m.Finish(exitCode(err), time.Now()); werr != nil {
		fmt.Fprintf(os.Stderr, "mailblast: %v\n", werr)
	} else if werr := m.Err(); werr != nil {
		fmt.Fprintf(os.Stderr, "mailblast: during the run: %v\n", werr)
	}
	return err
}

// metricsReporter lets the metrics file hear a campaign's outcomes.
func metricsReporter(r campaign.Reporter) campaign.Reporter {
	if runMetrics == nil {
		return r
	}
	return runMetrics.Reporter(r)
}
