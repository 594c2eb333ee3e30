// Package gateway is edgefn's HTTP front door: one Fiber app on one port.
//
// Requests enter through a single catch-all handler that matches them against the route table
// built from the HTTP triggers of every deployed function (routes.go); the table is immutable
// and swapped atomically whenever a deploy, rollback or delete changes the functions, because
// Fiber cannot remove routes. A matched request becomes an fn.Event and leaves through the
// function's runtime.Invoker; the Result becomes the response. Beside the function routes the
// gateway serves /healthz and /readyz (health.go) and the admin API under /admin/v1 (admin.go).
// Every response carries X-Request-ID; every error is JSON (errors.go).
package gateway
