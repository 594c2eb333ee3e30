package main

import (
	"fmt"
	"strings"

	"github.com/edgefn/edgefn/bench/internal/harness"
)

// goalRatio is issue 3's goal for both the stream and the queue trigger: at least 0.7 × the
// bare consumer of the same broker.
const goalRatio = 0.7

// report is everything one triggerbench run measured.
type report struct {
	opts options
	run  *harness.Run
	// brokers are the brokers' versions.
	brokers []string
	rounds  []round
}

// metric is one measured thing, with how to get its runs from a round.
type metric struct {
	// label says what was measured; short names it in the CPU rows and the rounds table.
	label, short string
	group        string
	baseline     string // what the baseline is; "" when there is none
	brokerName   string
	edge         func(round) result
	raw          func(round) result
}

func (r *report) metrics() []metric {
	o := r.opts
	return []metric{
		{label: fmt.Sprintf("stream trigger, Redis, %s pre-filled entries", harness.Thousands(float64(o.streamMsgs))), short: "stream (Redis)", group: "stream",
			baseline: "go-redis XREADGROUP COUNT 64 + XACK", brokerName: "Redis",
			edge: func(rd round) result { return rd.stream.edge }, raw: func(rd round) result { return rd.stream.raw }},
		{label: fmt.Sprintf("queue trigger, RabbitMQ, %s persistent messages, prefetch %d", harness.Thousands(float64(o.queueMsgs)), queuePrefetch), short: "queue (RabbitMQ)", group: "queue",
			baseline: fmt.Sprintf("amqp091 consumer, prefetch %d, one ack a message", queuePrefetch), brokerName: "RabbitMQ",
			edge: func(rd round) result { return rd.queue.edge }, raw: func(rd round) result { return rd.queue.raw }},
		{label: fmt.Sprintf("embedded queue, %s messages emitted by POST /burst", harness.Thousands(float64(o.embeddedMsgs))), short: "embedded queue",
			group: "embedded", edge: func(rd round) result { return rd.memQueue }},
		{label: fmt.Sprintf("embedded stream, %s messages emitted by POST /burst", harness.Thousands(float64(o.embeddedMsgs))), short: "embedded stream",
			group: "embedded", edge: func(rd round) result { return rd.memStream }},
	}
}

// undisturbed returns the rounds in which other processes used at most -max-other of the
// machine during m's runs, and a note for the table when that is not every round. With no
// such round it returns them all, and says so.
func (r *report) undisturbed(m metric) ([]round, string) {
	return harness.Undisturbed(r.rounds, func(rd round) bool {
		ok := m.edge(rd).other <= r.run.MaxOther
		if m.raw != nil {
			ok = ok && m.raw(rd).other <= r.run.MaxOther
		}
		return ok
	}, "; ")
}

// markdown renders the whole section: what is measured, the run's context, the tables.
func (r *report) markdown() string {
	var b strings.Builder
	b.WriteString(intro)
	b.WriteString("### Results\n\n")
	b.WriteString(r.run.Preamble(len(r.rounds), "round", r.brokers...))
	r.summaryTable(&b)
	fmt.Fprintf(&b, "\nCells are the median over the rounds, with the lowest and highest round in parentheses; ratios are taken per round, "+
		"edgefn against the baseline of the same round, then their median. %s; a round still disturbed (in bold below) is left out of that metric's summary.\n\n",
		r.run.Retried())
	r.roundsTable(&b)
	b.WriteString(noise)
	return b.String()
}

// intro says what the section measures and how; it does not change between runs.
const intro = `## Trigger throughput

What the queue and stream triggers cost: messages per second through a function that does
nothing ([cmd/triggerbench/noop](cmd/triggerbench/noop/main.go)) against a bare consumer of the
same broker doing the same acknowledgements, measured in the same run by
[triggerbench](cmd/triggerbench/main.go).

` + "```sh" + `
go run ./bench/cmd/triggerbench -write bench/README.md   # Redis at 127.0.0.1:6379, RabbitMQ at :5672 (-redis, -amqp); rewrites this section
` + "```" + `

| metric | baseline, inside triggerbench | edgefn | timed until | goal |
| --- | --- | --- | --- | --- |
| stream trigger on Redis | go-redis loop: XREADGROUP COUNT 64, XACK of the batch, in a group of its own created before the clock starts | ` + "`edgefn serve --redis`" + ` started after the pre-fill, noop on ` + "`stream: {from: oldest}`" + ` (a new group), concurrency 256; timed from the moment /healthz and /readyz answer 200 (polled every 1 ms) | the group has nothing pending and has delivered the last entry (XINFO GROUPS, polled every 2 ms; baseline: its last XACK); noop must then count one invocation per entry | ≥ 0.7 × baseline |
| queue trigger on RabbitMQ | amqp091 consumer, basic.qos 64, one basic.ack per message | ` + "`edgefn serve --amqp`" + ` started after the pre-publish, noop on ` + "`queue: {prefetch: 64}`" + `, concurrency 256; timed from ready as above | no message ready (queue.declare passive, every 2 ms), then noop invoked once per message with none in flight (admin API, every 2 ms); baseline: its last ack. After each run the consumer is stopped and the queue must be empty: nothing was left unacknowledged | ≥ 0.7 × baseline |
| embedded queue and stream | none | ` + "`edgefn serve`" + ` with no broker: noop on an embedded queue (prefetch 64) or stream (from: oldest), and a producer, the same plugin as ` + "`burst`" + ` on POST /burst, which emits -burst messages (100) a call; -producers (2) callers call it from the first call on | noop invoked once per message with none in flight (admin API, every 5 ms); production and consumption overlap and both count | none set |

The stream and queue messages are pre-filled through edgefn's own Redis and RabbitMQ backends
(pipelined XADD; persistent messages with publisher confirms), as a function's emits are,
and not timed. Every edgefn run starts a fresh gateway on a fresh data folder and fresh queue or
stream names, and subtracts nothing: its cold caches and the gateway's polling by triggerbench
are part of it. The triggers start as the functions deploy, a little before the listener
serves /readyz, so edgefn gets a head start: *delivered before ready* counts what it had
consumed by then (stream: read by the group; queue: invoked). Those messages still count in
the rate; at the default sizes they are well under 1% of a run.

*CPU per message* is the CPU time, during the timed part, of the gateway, its plugins, the
broker's processes (redis-server, beam.smp) and triggerbench itself (the baseline consumer, or
the producers and the polling), from /proc in 10 ms ticks, divided by the messages; *cores
busy* is that sum times the rate. A run that keeps both cores busy is bound by CPU, and its
rate is about cores ÷ CPU per message; one that does not (the bare Redis loop sends one
request at a time) is bound by its round trips. *Redis calls* are XREADGROUP and XACK
commands counted by Redis (INFO commandstats) during the run, other clients' included.

`

// noise closes the section with how far to trust the numbers.
const noise = `
The machine is shared with other builds, tests and benchmarks, and its cores are virtual.
Before each measurement triggerbench waits for other benchmarks (the other commands, wrk, another
triggerbench) to end and for the CPU to be quiet for a second; it records how much CPU other
processes took meanwhile (*other load*) and measures a run again when that was too much. The
brokers are shared too: other work on Redis or RabbitMQ during a run shows up as broker CPU
and other load. Even with no other load, a round can run 20-50 % faster or slower than the
next, with the CPU per message moving alike: the virtual CPUs' speed drifts. Hence the
baseline and edgefn take turns (the baseline first in odd rounds, edgefn first in even ones),
the ratio is taken within a round, and the range is shown next to every median. The runs are
short (the bare Redis loop takes well under a second, the RabbitMQ one about half a second),
which makes the queue ratio the noisiest number here and the tick-based CPU split coarse;
more rounds (-rounds) narrow the medians, not the ranges.
`

func (r *report) summaryTable(b *strings.Builder) {
	b.WriteString("| metric | edgefn | baseline | ratio (edgefn ÷ baseline) | goal | result |\n")
	b.WriteString("| --- | ---: | ---: | ---: | --- | --- |\n")
	var cpuRows []string
	for _, m := range r.metrics() {
		if !r.opts.only.Runs(m.group) {
			continue
		}
		rounds, note := r.undisturbed(m)
		edge := harness.PerRound(rounds, func(rd round) float64 { return m.edge(rd).rate() })
		edgeCPU := harness.PerRound(rounds, func(rd round) float64 { return m.edge(rd).cpu.total() })
		if m.raw == nil {
			fmt.Fprintf(b, "| %s (msgs/s%s) | %s | — | — | none set | info |\n", m.label, note, edge.Thousands())
			cpuRows = append(cpuRows, fmt.Sprintf("| CPU per message, %s: gateway + plugins + triggerbench (µs%s) | %s | — | — | — | info |\n",
				m.short, note, edgeCPU.Format(1, false)))
			continue
		}
		raw := harness.PerRound(rounds, func(rd round) float64 { return m.raw(rd).rate() })
		ratio := harness.PerRound(rounds, func(rd round) float64 { return pair{raw: m.raw(rd), edge: m.edge(rd)}.ratio() })
		goal, result := fmt.Sprintf("≥ %.1f × baseline", goalRatio), harness.Verdict(ratio.Median >= goalRatio)
		fmt.Fprintf(b, "| %s (msgs/s%s) | %s | %s (%s) | %s | %s | %s |\n",
			m.label, note, edge.Thousands(), raw.Thousands(), m.baseline, ratio.Format(2, false), goal, result)
		rawCPU := harness.PerRound(rounds, func(rd round) float64 { return m.raw(rd).cpu.total() })
		cpuRatio := harness.PerRound(rounds, func(rd round) float64 { return m.edge(rd).cpu.total() / m.raw(rd).cpu.total() })
		cpuRows = append(cpuRows, fmt.Sprintf("| CPU per message, %s: gateway + plugin + %s + triggerbench (µs%s) | %s | %s | %s | — | info |\n",
			m.short, m.brokerName, note, edgeCPU.Format(1, false), rawCPU.Format(1, false), cpuRatio.Format(2, false)))
	}
	for _, row := range cpuRows {
		b.WriteString(row)
	}
}

func (r *report) roundsTable(b *strings.Builder) {
	b.WriteString("| round | metric | consumer | msgs/s | seconds | CPU µs/msg: gateway, plugins, broker, triggerbench | cores busy | Redis calls per 1,000 msgs: XREADGROUP, XACK | edgefn start: exec → ready ms, delivered before ready | producers done (s) | other load | runs |\n")
	b.WriteString("| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for i, rd := range r.rounds {
		for _, m := range r.metrics() {
			if !r.opts.only.Runs(m.group) {
				continue
			}
			runs := []struct {
				who string
				res result
			}{{"edgefn", m.edge(rd)}}
			if m.raw != nil {
				first := []struct {
					who string
					res result
				}{{"baseline", m.raw(rd)}}
				if (i+1)%2 == 1 {
					runs = append(first, runs...)
				} else {
					runs = append(runs, first...)
				}
			}
			for _, x := range runs {
				b.WriteString(r.roundRow(i+1, m.short, x.who, x.res))
			}
		}
	}
}

func (r *report) roundRow(n int, metric, who string, x result) string {
	c := x.cpu
	cpu, cores := "?", "?"
	if c.ok {
		cpu = fmt.Sprintf("%.1f, %.1f, %.1f, %.1f", c.gateway, c.plugin, c.broker, c.bench)
		cores = fmt.Sprintf("%.2f", c.total()*x.rate()/1e6)
	}
	start, produced, calls := "—", "—", "—"
	if x.calls != nil && x.msgs > 0 {
		per := func(n int64) float64 { return 1000 * float64(n) / float64(x.msgs) }
		calls = fmt.Sprintf("%.0f, %.0f", per(x.calls.xreadgroup), per(x.calls.xack))
	}
	if x.startup > 0 {
		start = fmt.Sprintf("%.0f, %d", harness.Millis(x.startup), x.early)
	}
	if x.produced > 0 {
		produced = fmt.Sprintf("%.2f", x.produced.Seconds())
	}
	other := r.run.OtherLoad(x.other)
	return fmt.Sprintf("| %d | %s | %s | %.0f | %.3f | %s | %s | %s | %s | %s | %s | %d |\n",
		n, metric, who, x.rate(), x.elapsed.Seconds(), cpu, cores, calls, start, produced, other, x.attempts)
}
