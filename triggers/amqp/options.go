package amqp

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"
)

// Options configure [Dial]. The zero value is the default of every field.
type Options struct {
	// Logger receives connection losses, reconnects and consumer restarts; default
	// slog.Default().
	Logger *slog.Logger
	// Name prefixes the connection names shown in RabbitMQ's management UI and
	// rabbitmqctl ("<Name> publish", "<Name> consume"); default "edgefn".
	Name string
	// MinBackoff is the first reconnect delay; it doubles at each failed attempt up to
	// MaxBackoff, and each delay is jittered down by up to half. Default 100ms.
	MinBackoff time.Duration
	// MaxBackoff caps the reconnect delay; default 15s.
	MaxBackoff time.Duration
	// DialTimeout bounds one connection attempt, TCP and AMQP handshakes; default 10s.
	DialTimeout time.Duration
	// Heartbeat is the AMQP heartbeat interval, which detects a broker that stopped
	// answering; default 10s. A heartbeat in the URL wins.
	Heartbeat time.Duration
	// TLS configures the TLS of an amqps:// URL: the CAs that may sign the broker's
	// certificate, a client certificate for a broker that asks for one. Each connection
	// uses a copy; an empty ServerName is the URL's host. Nil: the system's CAs, or the
	// URL's cacertfile, certfile and keyfile parameters (docs/securing.md). Setting it
	// with an amqp:// URL is an error.
	TLS *tls.Config
	// PublishChannels bounds the confirm-mode channels that publish at the same time;
	// more concurrent publishers wait for one. Default 8.
	PublishChannels int

	// noForwarder leaves out the forwarder of delayed messages (forward.go), which every
	// other Queues runs. For tests that cut a backend off the broker: a forwarder cut off
	// holds the due messages it took, the broker's shared ones of every other process, until
	// the broker notices the connection is gone.
	noForwarder bool
}

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Name == "" {
		o.Name = "edgefn"
	}
	if o.MinBackoff == 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 15 * time.Second
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = 10 * time.Second
	}
	if o.Heartbeat == 0 {
		o.Heartbeat = 10 * time.Second
	}
	if o.PublishChannels == 0 {
		o.PublishChannels = 8
	}
}

// Validate reports every invalid field.
func (o *Options) Validate() error {
	var errs []error
	if o.MinBackoff < 0 {
		errs = append(errs, errors.New("minBackoff: must be >= 0"))
	}
	if o.MaxBackoff < 0 {
		errs = append(errs, errors.New("maxBackoff: must be >= 0"))
	}
	if o.MinBackoff > 0 && o.MaxBackoff > 0 && o.MaxBackoff < o.MinBackoff {
		errs = append(errs, errors.New("maxBackoff: must be >= minBackoff"))
	}
	if o.DialTimeout < 0 {
		errs = append(errs, errors.New("dialTimeout: must be >= 0"))
	}
	if o.Heartbeat < 0 {
		errs = append(errs, errors.New("heartbeat: must be >= 0"))
	}
	if o.PublishChannels < 0 {
		errs = append(errs, errors.New("publishChannels: must be >= 0"))
	}
	return errors.Join(errs...)
}

// backoff returns the delay before reconnect attempt n (0 first): MinBackoff·2^n capped at
// MaxBackoff, minus a random part of up to half, so that nodes dropped together do not
// reconnect together.
func (o *Options) backoff(n int) time.Duration {
	d := o.MaxBackoff
	if n < 32 {
		if e := o.MinBackoff << n; e > 0 && e < d {
			d = e
		}
	}
	return d - rand.N(d/2+1)
}
