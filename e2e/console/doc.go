// Package console drives Fjord's web console in a real headless browser
// (Debian's chromium, through chromedp): every page loads without a
// console error, a topic created through the page's form exists in the
// cluster, and a group's lag chart shows the lag the test made. With
// FJORD_CONSOLE_SCREENSHOTS=DIR it writes each page's screenshot there
// (docs/console/ holds the ones docs/console.md shows). Without chromium
// the tests skip loudly, and fail under FJORD_REQUIRE_CLIENTS=1 (CI).
package console
