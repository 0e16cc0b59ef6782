package recipients_test

import (
	"errors"
	"fmt"
	"io"

	"github.com/mailblast/mailblast/recipients"
)

// A caller reports rows with bad data and carries on, but stops at an error
// that leaves the reader lost in the file.
func Example() {
	r, err := recipients.Open("testdata/example.csv", recipients.Options{EmailColumn: "e-mail"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	for {
		row, err := r.Next()
		var bad *recipients.Error
		switch {
		case err == io.EOF:
			return
		case errors.As(err, &bad) && !bad.Fatal():
			fmt.Println("skipped:", err)
		case err != nil:
			fmt.Println(err)
			return
		default:
			fmt.Printf("row %d: %s (%s)\n", row.Num, row.Email, row.Fields["Name"])
		}
	}
	// Output:
	// row 2: ann@example.org (Ann)
	// skipped: testdata/example.csv: row 3: wrong number of fields: expected 2, found 3
	// row 4: carol@example.org (Carol)
}
