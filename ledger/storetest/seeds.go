package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/mailblast/mailblast/ledger"
)

// seedsApartFromRows: seed sends are kept per campaign, in order, count
// in none of the campaign's figures, and go with the campaign.
func seedsApartFromRows(t *testing.T, s ledger.Store) {
	ctx := context.Background()
	id := campaign(t, s, 3)
	before := counts(t, s, id)
	at := time.Now().Truncate(time.Millisecond)
	sends := []ledger.SeedSend{
		{Address: "seed1@monitor.example", Phase: ledger.SeedStart, At: at, Code: 250, Text: "2.0.0 Ok", MessageID: "<a@x>"},
		{Address: "seed2@monitor.example", Phase: ledger.SeedEnd, At: at.Add(time.Second), Code: 451, Text: "4.3.0 later"},
	}
	for _, sd := range sends {
		if err := s.RecordSeed(ctx, id, sd); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.SeedSends(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Address != sends[0].Address || !got[0].At.Equal(at) || got[1].Code != 451 || got[1].Phase != ledger.SeedEnd {
		t.Fatalf("SeedSends = %+v, want %+v", got, sends)
	}
	if after := counts(t, s, id); after != before {
		t.Errorf("counts changed by seed sends: %+v -> %+v", before, after)
	}
	other := campaign(t, s, 1)
	if o, _ := s.SeedSends(ctx, other); len(o) != 0 {
		t.Errorf("another campaign has seed sends %+v", o)
	}
	if err := s.RemoveCampaign(ctx, id); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.SeedSends(ctx, id); len(got) != 0 {
		t.Errorf("seed sends outlive their campaign: %+v", got)
	}
}
