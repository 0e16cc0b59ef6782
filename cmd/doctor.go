package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/mailblast/mailblast/campaign"
	"github.com/mailblast/mailblast/doctor"
)

// errWarnings: doctor found only warnings; it exits 1.
var errWarnings = errors.New("doctor: warnings only, no failure")

// surveyRows is how many rows doctor renders to find the largest message.
const surveyRows = 1000

type doctorOptions struct {
	list       string
	login      bool
	json       bool
	dnsServer  string
	configFile string
	cmd        *cobra.Command
}

func newDoctorCommand() *cobra.Command {
	opts := &doctorOptions{}
	c := &cobra.Command{
		Use:   "doctor [LIST.csv]",
		Short: "Check the DNS records and the relay a campaign depends on, without sending",
		Long: `Doctor checks the set-up without sending: SPF, DKIM, DMARC and alignment,
the return path's MX, the relay's EHLO capabilities against the list's
largest rendered message (the first 1,000 rows), its TLS certificate and
AUTH, and the Gmail/Yahoo bulk-sender checklist. Each finding is OK, WARN
or FAIL with a line on how to fix it. The From domain is the first row's;
without LIST.csv, the From header must need no row values. It logs in only
with --auth. Exit status: 0 all OK, 1 warnings only, 78 any FAIL.`,
		Example: `  mailblast doctor list.csv
  mailblast doctor list.csv --auth --json --dns-server 127.0.0.1:5353`,
		Args: func(c *cobra.Command, args []string) error {
			if err := cobra.MaximumNArgs(1)(c, args); err != nil {
				return &usageError{err}
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.list = args[0]
			}
			opts.cmd = c
			opts.configFile, _ = c.Flags().GetString("config")
			return runDoctor(c.Context(), opts)
		},
	}
	f := c.Flags()
	f.BoolVar(&opts.login, "auth", false, "log in to the relay with the configured username and password (nothing is sent)")
	f.BoolVar(&opts.json, "json", false, "print the findings as JSON")
	f.StringVar(&opts.dnsServer, "dns-server", "", "DNS server HOST:PORT to ask (default: the first nameserver of /etc/resolv.conf)")
	f.String("template", "", "message template file")
	f.String("email-column", "", `CSV column with the address (default "email")`)
	return c
}

func runDoctor(ctx context.Context, opts *doctorOptions) error {
	cfg, err := loadConfig(opts.cmd.Flags(), opts.configFile)
	if err != nil {
		return err
	}
	dopts, err := doctorSetup(ctx, cfg, opts)
	if err != nil {
		return err
	}
	findings := doctor.Run(ctx, dopts)
	if err := printFindings(streamsOf(opts.cmd).out, findings, opts.json); err != nil {
		return err
	}
	switch doctor.Worst(findings) {
	case doctor.Fail:
		return configErrorf("doctor found failures; fix them before sending")
	case doctor.Warn:
		return errWarnings
	}
	return nil
}

// doctorSetup gathers what the checks need: the DNS server, the list's
// messages, the first relay (and its password for --auth).
func doctorSetup(ctx context.Context, cfg *Config, opts *doctorOptions) (doctor.Options, error) {
	var d doctor.Options
	if cfg.Template == "" {
		return d, &usageError{errorf("no template: pass --template FILE or set template in the config")}
	}
	d.DNSServer = opts.dnsServer
	if d.DNSServer == "" {
		var err error
		if d.DNSServer, err = doctor.DefaultServer(); err != nil {
			return d, &usageError{err}
		}
	}
	settings := campaignSettings(cfg, opts.list)
	if opts.list == "" {
		settings.List = ""
	}
	sv, err := campaign.Survey(ctx, settings, surveyRows)
	if err != nil {
		return d, err
	}
	d.From, d.ReturnPath, d.Login = sv.From, cfg.ReturnPath, opts.login
	d.Messages = doctor.Messages{Listed: opts.list != "", Rendered: sv.Rendered, AllRows: sv.AllRows,
		Largest: sv.Largest, LargestAt: sv.LargestAt, UTF8Rows: sv.UTF8Rows}
	if k := cfg.dkim(); k != nil {
		d.DKIM = *k
	}
	u := cfg.Message.Unsubscribe
	d.OneClick = u.URL != "" || u.BaseURL != ""
	password := ""
	if opts.login { // the password is read only when it is to be used
		if password, err = cfg.passwords(&settings); err != nil {
			return d, err
		}
	}
	d.Relay = campaign.FirstRelay(settings, password, cfg.tlsConfig())
	return d, nil
}

// printFindings is the one place doctor's findings are written.
func printFindings(w io.Writer, findings []doctor.Finding, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Status   doctor.Status    `json:"status"`
			Findings []doctor.Finding `json:"findings"`
		}{doctor.Worst(findings), findings})
	}
	for _, f := range findings {
		fmt.Fprintf(w, "%-4s  %-16s  %s\n", f.Status, f.Check, f.Detail)
		if f.Fix != "" {
			fmt.Fprintf(w, "%24s%s\n", "fix: ", f.Fix)
		}
	}
	_, err := fmt.Fprintf(w, "\n%s\n", doctor.Worst(findings))
	return err
}
