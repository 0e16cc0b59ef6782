package cmd

import (
	"os"
	"strings"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/mailblast/mailblast/campaign"
)

// explicitKeys are the keys this run's flags, environment or config file
// set, as opposed to defaults: on resume they win over what the campaign
// stored, and what they leave unset comes from the campaign.
func explicitKeys(v *viper.Viper, flags *pflag.FlagSet) map[string]bool {
	set := map[string]bool{}
	for name, key := range flagKeys {
		if f := flags.Lookup(name); f != nil && f.Changed {
			set[key] = true
		}
	}
	for _, key := range v.AllKeys() {
		env := "MAILBLAST_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
		if os.Getenv(env) != "" || v.InConfig(key) {
			set[key] = true
		}
	}
	if v.InConfig("smtp.relays") {
		set["smtp.relays"] = true
	}
	return set
}

// smtpOverrides copy one setting from the current configuration onto a
// campaign's stored relay settings.
var smtpOverrides = map[string]func(dst *campaign.SMTPSettings, src campaign.SMTPSettings){
	"smtp.host":                        func(d *campaign.SMTPSettings, s campaign.SMTPSettings) { d.Host = s.Host },
	"smtp.port":                        func(d *campaign.SMTPSettings, s campaign.SMTPSettings) { d.Port = s.Port },
	"smtp.tls":                         func(d *campaign.SMTPSettings, s campaign.SMTPSettings) { d.TLS = s.TLS },
	"smtp.helo":                        func(d *campaign.SMTPSettings, s campaign.SMTPSettings) { d.Helo = s.Helo },
	"smtp.connections":                 func(d *campaign.SMTPSettings, s campaign.SMTPSettings) { d.Connections = s.Connections },
	"smtp.max_messages_per_connection": func(d *campaign.SMTPSettings, s campaign.SMTPSettings) { d.MaxMessagesPerConn = s.MaxMessagesPerConn },
	"smtp.timeout":                     func(d *campaign.SMTPSettings, s campaign.SMTPSettings) { d.Timeout = s.Timeout },
	"smtp.connect_attempts":            func(d *campaign.SMTPSettings, s campaign.SMTPSettings) { d.ConnectAttempts = s.ConnectAttempts },
	"smtp.backoff":                     func(d *campaign.SMTPSettings, s campaign.SMTPSettings) { d.Backoff = s.Backoff },
	"smtp.pipelining":                  func(d *campaign.SMTPSettings, s campaign.SMTPSettings) { d.Pipelining = s.Pipelining },
	"smtp.chunking":                    func(d *campaign.SMTPSettings, s campaign.SMTPSettings) { d.Chunking = s.Chunking },
	"smtp.rate":                        func(d *campaign.SMTPSettings, s campaign.SMTPSettings) { d.Rate = s.Rate },
	"smtp.burst":                       func(d *campaign.SMTPSettings, s campaign.SMTPSettings) { d.Burst = s.Burst },
	"smtp.ramp":                        func(d *campaign.SMTPSettings, s campaign.SMTPSettings) { d.Ramp = s.Ramp },
	"smtp.throttle_recover":            func(d *campaign.SMTPSettings, s campaign.SMTPSettings) { d.ThrottleRecover = s.ThrottleRecover },
}

// overlay is a stored campaign's settings with what this run's flags,
// environment and config file set on top. The list, template and message
// files stay the campaign's: they are what it is.
func (c *Config) overlay(s campaign.Settings) campaign.Settings {
	cur := c.smtpSettings()
	// Who logs in, and whether a password may go in clear, are today's
	// configuration's alone, like the password itself: a stored username
	// meeting a relay the current file names would send it the password.
	s.SMTP.Username, s.SMTP.AllowInsecureAuth = cur.Username, cur.AllowInsecureAuth
	for key, apply := range smtpOverrides {
		if c.explicit[key] {
			apply(&s.SMTP, cur)
		}
	}
	// A new tls without a port of its own takes that mode's port.
	if c.explicit["smtp.tls"] && !c.explicit["smtp.port"] {
		s.SMTP.Port = cur.Port
	}
	if c.explicit["smtp.relays"] {
		s.Relays = c.relaySettings
	}
	if c.explicit["retry.schedule"] || len(s.Retry.Schedule) == 0 {
		s.Retry.Schedule = c.Retry.Schedule
	}
	if c.explicit["retry.max_age"] || s.Retry.MaxAge <= 0 {
		s.Retry.MaxAge = c.Retry.MaxAge
	}
	return s
}
