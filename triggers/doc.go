// Package triggers defines where events come from and go to: the sources that
// deliver queue and stream messages to functions, the publishers that carry a
// function's emitted events, and the filters a manifest attaches to a trigger.
//
// Events enter through a source's deliveries, are checked against the
// trigger's compiled [Filter], and leave as invocations of a function.
package triggers
