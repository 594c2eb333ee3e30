// Package redis is edgefn's stream backend on Redis Streams (`--redis URL`, docs/cli.md): functions'
// emitted events enter a stream with XADD, and stream triggers consume them in consumer groups
// (XREADGROUP), settle them with XACK, retry them through the pending entries list, reclaim
// what dead consumers left pending (XAUTOCLAIM), and move what keeps failing to a dead-letter
// stream.
//
// # Wire format (docs/events.md)
//
// A [triggers.Message] is one stream entry whose fields are:
//
//	field            Message field     notes
//	id               ID                random 128-bit hex when the publisher left it empty
//	type             Type              omitted when empty
//	source           Source            omitted when empty
//	subject          Subject           omitted when empty
//	time             Time              RFC 3339 with nanoseconds, UTC; now when zero
//	datacontenttype  ContentType       omitted when empty
//	correlationid    CorrelationID     omitted when empty
//	traceparent      Traceparent       omitted when empty
//	h-<name>         Headers[<name>]   one field per header
//	data             Data              always written, last; may be empty
//
// ReplyTo and Priority belong to queues and are not carried on streams.
//
// Reading is lenient, for entries written by other producers: the field names eventId,
// eventType, timestamp and correlationId stand for id, type, time and correlationid when
// those are absent (when both are present the alias is kept as a header); time and
// timestamp are RFC 3339 or unix milliseconds; an entry without an id gets its stream entry
// ID; an entry without a usable time gets the time of its stream entry ID; a missing data
// field is empty data; and every other field becomes a header under its own name.
//
// A dead-lettered entry keeps the original fields (and gets an id field when it had none,
// so its identity survives) and adds error (the reason) and attempts (decimal). Redrive
// strips those two again.
//
// # Consumption
//
// Each source owns one dedicated connection of the client's pool for its blocking reads, so
// that a context cancel or Close can end a blocked XREADGROUP at once with CLIENT UNBLOCK
// (go-redis does not interrupt a blocked read when its context is canceled). Size the
// client's pool for the number of sources plus the concurrent commands. Without the
// permission to run CLIENT UNBLOCK, a read ends at its BLOCK timeout instead.
//
// Retry keeps the entry pending with this consumer and holds it in a bounded in-process
// list; when it is due, XCLAIM hands it back to this consumer (the delivery count, and with
// it Attempt, grows by one). Entries in that list are touched (XCLAIM JUSTID) so that other
// consumers do not reclaim them before their delay. If the process dies, they are still
// pending and another consumer reclaims them after ClaimAfter: at least once holds.
//
// # WebSocket topics
//
// [Topics] is the fan-out of WebSocket publications between gateway nodes (docs/websocket.md), in the
// manner of Centrifugo's Redis engine. Each topic has two keys, which share a slot through
// the hash tag:
//
//	key                     type    content
//	<prefix>{<topic>}:meta  hash    e: the epoch (16 hex digits), o: the last offset
//	<prefix>{<topic>}:h     stream  one entry per publication: o (offset), t (publish time,
//	                                unix ms by Redis' clock), d (data); XADD MAXLEN Size
//
// The prefix is "edgefn:topics:" unless TopicsOptions says otherwise. One Lua script
// publishes: it starts an epoch when the meta has none (dropping any history left from
// the lost one), increments the offset, appends the entry, sets the history to expire
// after the history TTL and the meta after MetaTTL (24h by default, so that a client
// that missed nothing on a quiet topic still recovers), and PUBLISHes
// "<epoch> <offset> <len(topic)> <topic><data>" on the one channel <prefix>pub. Since
// PUBLISH runs inside the script, every node hears a topic's publications in offset order.
//
// Another script reads history: it starts the epoch too when there is none, so that a
// subscriber that read a position stays in the epoch of the next publication, keeps the
// meta for another MetaTTL, and returns the entries after the subscriber's position when
// the history may hold them all. Entries older than the TTL by Redis' clock count as gone,
// so nodes whose clocks disagree agree on what recovers.
//
// Each listener has a connection of its own, subscribed to the channel. After that
// connection breaks, go-redis redials and subscribes again on the next receive (the
// listener waits between failed attempts); a connection silent for two ping intervals is
// replaced. Either way the listener's Resync is called once the new subscription is
// confirmed. A listener that does not keep up makes Redis drop the connection
// (client-output-buffer-limit pubsub), which ends the same way.
package redis
