package sender_test

import (
	"context"
	"fmt"

	"github.com/mailblast/mailblast/sender"
)

// A pool of four connections to a relay: envelopes go in on a channel,
// every outcome comes back through the callback, classified once.
func ExamplePool() {
	s := sender.DefaultSettings()
	s.Host, s.Port, s.Username = "smtp.example.com", 587, "mailer"
	s.Rate = 50 // messages per second
	pool, err := sender.NewPool(sender.Config{Settings: s, Password: "from-a-secret-store"})
	if err != nil {
		panic(err)
	}
	in := make(chan *sender.Envelope, 1)
	in <- &sender.Envelope{ID: 2, From: "news@example.com", To: "ada@example.org",
		Data: []byte("From: news@example.com\r\nTo: ada@example.org\r\nSubject: Hi\r\n\r\nHello\r\n")}
	close(in)
	ctx := context.Background()
	err = pool.Run(ctx, ctx, in, func(r sender.Result) {
		switch {
		case r.Released:
			fmt.Println(r.Env.ID, "not attempted")
		case r.Err == nil:
			fmt.Println(r.Env.ID, "sent")
		case r.Err.Permanent:
			fmt.Println(r.Env.ID, "failed:", r.Err.Code, r.Err.Enhanced)
		default:
			fmt.Println(r.Env.ID, "deferred:", r.Err)
		}
	})
	if err != nil {
		fmt.Println("run:", err)
	}
}
