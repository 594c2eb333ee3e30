// Package router holds the gateway's HTTP route table: the routes declared by the HTTP triggers of
// the deployed functions, compiled into an immutable tree that answers "which function serves
// this method and path, and with which path parameters".
//
// Routes enter through [New], once per deploy; the gateway swaps the resulting [Table] atomically
// behind its single catch-all Fiber handler, because Fiber cannot remove routes. Requests enter
// through [Table.Match], which is safe for concurrent use, does not allocate on a hit, and fills a
// caller-owned [Params] with the captured segments.
//
// Patterns are made of "/"-separated segments, each a literal ("orders") or a parameter
// ("{id}") that captures exactly one non-empty segment; "/" alone is the root. Matching is
// strict: a trailing slash is part of the path ("/orders/42/" does not match "/orders/{id}"),
// literals are case-sensitive, and an empty segment never matches a parameter. When several
// routes could match, a literal segment wins over a parameter at the same depth, and the search
// backtracks to the parameter when the literal branch fails deeper down.
package router
