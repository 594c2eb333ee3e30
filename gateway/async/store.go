// Package async is the gateway's asynchronous request-reply (docs/async.md): an HTTP call with
// `Prefer: respond-async` (or to an `async: always` route) is answered 202 at once, its
// invocation travels through the queue backend with a correlation ID, and its reply is kept
// in a Store for the reply TTL, fetched with GET /requests/{id} and pushed on the WebSocket
// topic requests.{id}.
package async

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrNotFound is returned (wrapped) for a request the store does not hold: unknown, or
// expired.
var ErrNotFound = errors.New("async request not found")

// State is where a request is.
type State string

const (
	Pending State = "pending"
	Done    State = "done"
)

// Record is an async request as the store keeps it.
type Record struct {
	// ID is the correlation ID: 128 random bits in hex.
	ID string `json:"id"`
	// Function is the function that runs it.
	Function string `json:"function"`
	// Owner is the `sub` of the caller's JWT: only that subject may see the reply.
	Owner string `json:"owner,omitempty"`
	// OwnerIP is the client IP of a caller whose JWT had no `sub`: only that IP may see the
	// reply. With neither owner (a call without a token) the unguessable ID is the capability.
	OwnerIP string `json:"ownerIP,omitempty"`
	// State is Pending until the reply is stored.
	State State `json:"state"`
	// Status, Headers and Body are the reply (the function's result, or the error a
	// synchronous caller would have got); set when State is Done.
	Status  int               `json:"status,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    []byte            `json:"body,omitempty"`
	// Created and Completed are when the request was accepted and answered.
	Created   time.Time `json:"created"`
	Completed time.Time `json:"completed,omitzero"`
}

// Store keeps async requests for a TTL: the embedded one in process, or Redis, shared by
// every node. Every record and idempotency key expires TTL after it was last written, so
// nothing grows without bound. Methods are safe for concurrent use.
//
// Guarantees, which the conformance suite (store_test.go) checks for both stores:
//   - Create with an idempotency key stores the record only when the key is new in its
//     scope; otherwise it stores nothing and returns the ID the key already points to when
//     the key is bound to the same call, and a *KeyReusedError when it is bound to another.
//     The check and the write are one atomic step: of concurrent Creates with one key, one
//     stores its record and the others get its ID (or the error).
//   - Complete turns a pending record into a done one once: completing a done record again
//     changes nothing and returns ErrAlreadyDone (a redelivered invocation ran twice);
//     completing an unknown or expired one returns ErrNotFound.
//   - Get returns what was stored until the TTL passes, then ErrNotFound.
type Store interface {
	// Create stores rec (pending) for ttl. When key.Value is not empty, the key is stored
	// too, bound to key.Call, for ttl: if the key was used in its scope within ttl, Create
	// stores nothing and returns the earlier request's ID with created false, or, when the
	// earlier call was another, a *KeyReusedError.
	Create(ctx context.Context, rec *Record, key Key, ttl time.Duration) (id string, created bool, err error)
	// Get returns the record of id.
	Get(ctx context.Context, id string) (*Record, error)
	// Complete stores the reply of id and keeps the record for ttl from now.
	Complete(ctx context.Context, id string, status int, headers map[string]string, body []byte, ttl time.Duration) error
	// Pending counts the pending requests (for the metric); stores may count approximately
	// (expired entries are dropped lazily).
	Pending(ctx context.Context) (int64, error)
}

// ErrAlreadyDone is returned (wrapped) by Complete for a request that has its reply.
var ErrAlreadyDone = errors.New("async request already answered")

// Key is an idempotency key (docs/async.md#idempotency): the Idempotency-Key a caller sent,
// in the caller's scope, bound to the call it came with.
type Key struct {
	// Scope is whose key it is, such as "sub:alice" or "ip:192.0.2.7"; the same Value in two
	// scopes is two keys.
	Scope string
	// Value is the Idempotency-Key; "" for none: then nothing is deduplicated.
	Value string
	// Call is the call the key is bound to.
	Call Call
}

// Call is what an idempotency key is bound to: a reuse of the key for another Call is
// refused.
type Call struct {
	// Function is the name of the function that runs it.
	Function string
	// Method and Path are the HTTP method and path (with the query string, if any).
	Method, Path string
	// BodySHA256 is the SHA-256 of the request body, in hex.
	BodySHA256 string
}

// ErrKeyReused is matched (errors.Is) by a *KeyReusedError.
var ErrKeyReused = errors.New("idempotency key reused for another call")

// KeyReusedError is returned (wrapped) by Create for an idempotency key that is bound to
// another call than the one it came with.
type KeyReusedError struct {
	// First is the call the key is bound to; Again the one it came with now.
	First, Again Call
}

func (e *KeyReusedError) Error() string {
	return fmt.Sprintf("%v: the %s differs", ErrKeyReused, strings.Join(e.Differs(), ", "))
}

// Is makes errors.Is(err, ErrKeyReused) true.
func (e *KeyReusedError) Is(target error) bool { return target == ErrKeyReused }

// Differs names what differs between the two calls, in this order: "function", "method",
// "path", "body".
func (e *KeyReusedError) Differs() []string {
	var d []string
	if e.First.Function != e.Again.Function {
		d = append(d, "function")
	}
	if e.First.Method != e.Again.Method {
		d = append(d, "method")
	}
	if e.First.Path != e.Again.Path {
		d = append(d, "path")
	}
	if e.First.BodySHA256 != e.Again.BodySHA256 {
		d = append(d, "body")
	}
	return d
}
