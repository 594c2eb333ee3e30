// Package cron computes the instants of a schedule trigger (docs/manifest.md#schedule-trigger):
// a five-field cron expression or a descriptor (@hourly, @every 30s, ...) in a time zone.
// Expressions are parsed by github.com/robfig/cron/v3; the instants are computed here, from
// the expression alone, so that every node of a cluster computes the same ones:
//
//   - `@every D` fires at the Unix-epoch multiples of D, whatever the zone.
//   - A wall time the clock skips (a daylight-saving gap) fires once, at the first instant
//     after the gap; several such wall times fire once in all.
//   - A wall time the clock shows twice (the clock goes back) fires at its first occurrence only.
//
// Data enters as the manifest's text (Parse) and leaves as instants (Schedule.Next).
package cron
