package console

// Token exposes a console's anti-forgery token to the external tests
// (package console_test, which start real nodes: package fjord imports
// this one through internal/node).
func Token(c *Console) string { return c.token }
