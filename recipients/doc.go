// Package recipients streams a CSV recipient list one row at a time, so a
// list of millions of rows costs the memory of one row, not of the list.
//
// The flow:
//
//  1. Open opens the file, skips a UTF-8 byte order mark (Excel writes one),
//     and reads the header row. Every header name must be present and unique
//     (ignoring case and surrounding spaces), and one of them must be the
//     address column named by Options.EmailColumn.
//  2. Next reads one record with encoding/csv and checks every field: valid
//     UTF-8, no NUL byte, not longer than Options.MaxFieldBytes. It returns a
//     Row with the fields by header name, the trimmed address, the
//     spreadsheet row number and the byte offset where the record starts.
//  3. A caller that remembers a Row's Offset and Num (a send ledger, say) can
//     later call ReadAt to re-read just that record, without reading the
//     rows before it. Next then carries on after that record.
//  4. Problems with the content are *Error values that name the file, the
//     row and, when it is one field, the column, wrapping a sentinel error
//     such as ErrInvalidUTF8 for errors.Is.
//
// A row with bad data (wrong field count, bad encoding, a field too long) is
// consumed, so the caller may report it and call Next again. A CSV syntax
// error (a stray quote), a runaway record or an I/O error leaves the position
// in the file unknown: such an error reports Fatal, Next keeps returning it,
// and only ReadAt to a known offset recovers.
//
// Addresses are not validated here: an empty address is returned as it is.
// A Reader is not safe for concurrent use.
package recipients
