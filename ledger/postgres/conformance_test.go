package postgres_test

import (
	"context"
	"os"
	"testing"

	"github.com/mailblast/mailblast/ledger"
	"github.com/mailblast/mailblast/ledger/postgres"
	"github.com/mailblast/mailblast/ledger/postgres/pgtest"
	"github.com/mailblast/mailblast/ledger/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestConformance runs the Store conformance suite, unchanged, against a
// fresh database on a real PostgreSQL for each of its tests.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) ledger.Store {
		s, err := postgres.Open(context.Background(), pgtest.Start(t), postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
