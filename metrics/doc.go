// Package metrics writes what a send or resume did as a Prometheus text
// file for node_exporter's textfile collector, so the monitoring people
// already run can watch a cron sender.
//
// How it works:
//
//  1. New makes a registry (prometheus/client_golang) for one invocation of
//     the command and notes its start.
//  2. Reporter wraps the campaign's reporter: every outcome it hears adds
//     to mailblast_messages_total and mailblast_smtp_replies_total, and the
//     run's summary sets mailblast_recipients. As a campaign.RelayReporter
//     it also hears which relay carried each attempt, with the throttling
//     replies and connections of that relay (the mailblast_relay_* and
//     mailblast_throttle_events_total series).
//  3. Loop writes the file every interval while the run goes on; Finish
//     writes it a last time with the end, the duration and the exit code.
//  4. Each write is atomic (prometheus.WriteToTextfile: a temporary file
//     in the same directory, renamed over the old one), so the collector
//     never reads half a file.
//
// Labels stay bounded: campaign, state, result, relay (the configured
// relays' names), and a reply code that is
// an RFC 3463 enhanced code of the usual shape or else the code's class.
package metrics
