// Package report renders a campaign's ledger statistics as one
// self-contained HTML page: no script, no font, no image and no style
// sheet from anywhere else, so it opens from a file, a mail attachment or a
// machine without a network.
//
// How it works:
//
//  1. The ledger sums the campaign up in SQL (ledger.Stats): counts per
//     state, attempts per minute and reply, the top domains, histograms.
//  2. New turns that into a Page: rates beside the thresholds mailbox
//     providers publish, a warning sentence for each rate over one, and the
//     minutes folded into hours or days for a long campaign.
//  3. Charts are SVG drawn here, as rectangles and text computed in Go
//     and written by html/template. Every series has a pattern as well as
//     a colour and a text legend, every bar a <title>, every chart a
//     <title> and <desc> and a table of the same figures beside it.
//  4. WritePage writes one campaign's page; WriteIndex the overview of
//     several, linking to their pages.
package report
