package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/fasthttp/websocket"
)

// The clients' reading side: a few goroutines (GOMAXPROCS) each wait on an epoll set of
// their share of the sockets and read what is ready with one read(2), parsing the frames
// themselves. Ten thousand clients share two cores with the server they measure, and a
// goroutine per client woken for every frame, reading through a WebSocket library, cost
// about as much CPU per delivery as the server's write. Both servers get this same client.
//
// The sockets are read behind Go's back: nothing else reads them once the fleet polls them
// (each client's subscribe reply was read before, and nothing is published until every
// client subscribed), and the fleet stops its pollers before it closes the sockets.

// pollers reads the fleet's clients until stop.
type pollers struct {
	stop chan struct{}
	wg   sync.WaitGroup
}

// pollState is what a polled client keeps between reads: the start of a frame that has not
// all arrived.
type pollState struct {
	fd   int
	part []byte
}

// startReading starts reading every client: pollers, or a goroutine per client when the
// pollers cannot start.
func (f *fleet) startReading() {
	if err := f.startPolling(); err != nil {
		f.polling = nil
		f.startReaders()
	}
}

// stopReading stops the pollers, before the sockets are closed.
func (f *fleet) stopReading() {
	if f.polling != nil {
		close(f.polling.stop)
		f.polling.wg.Wait()
	}
}

// startPolling starts the pollers over f's clients.
func (f *fleet) startPolling() error {
	n := min(runtime.GOMAXPROCS(0), max(1, len(f.clients)))
	shares := make([][]*client, n)
	for i, c := range f.clients {
		fd, err := socketFD(c.ws.NetConn())
		if err != nil {
			return err
		}
		c.poll = &pollState{fd: fd}
		shares[i%n] = append(shares[i%n], c)
	}
	f.polling = &pollers{stop: make(chan struct{})}
	for _, share := range shares {
		ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			close(f.polling.stop)
			f.polling.wg.Wait()
			return fmt.Errorf("epoll_create1: %w", err)
		}
		byFD := make(map[int32]*client, len(share))
		for _, c := range share {
			// Edge-triggered: a socket is reported once per arrival, not looked at again
			// on every epoll_wait until read; readReady reads until a short read.
			ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | epollET, Fd: int32(c.poll.fd)}
			if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, c.poll.fd, &ev); err != nil {
				syscall.Close(ep)
				close(f.polling.stop)
				f.polling.wg.Wait()
				return fmt.Errorf("epoll_ctl: %w", err)
			}
			byFD[int32(c.poll.fd)] = c
		}
		f.polling.wg.Add(1)
		go f.poll(ep, byFD)
	}
	return nil
}

// socketFD returns the file descriptor of a TCP connection.
func socketFD(c net.Conn) (int, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return 0, errors.New("not a socket")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return 0, err
	}
	fd := -1
	if err := raw.Control(func(s uintptr) { fd = int(s) }); err != nil {
		return 0, err
	}
	return fd, nil
}

// batchPause is how long a poller sleeps between looks while frames are coming, so that it
// reads many sockets per look instead of being woken for each frame: a receipt is
// timestamped up to about this much late (the measurement errs on the slow side), and the
// wake-ups, which the kernel charges partly to the writing server, mostly go away. After
// idleLooks looks that found nothing, the poller blocks in epoll_wait again.
const (
	batchPause = 200 * time.Microsecond
	idleLooks  = 50
)

// poll reads the sockets of one epoll set until the fleet stops polling.
func (f *fleet) poll(ep int, byFD map[int32]*client) {
	defer f.polling.wg.Done()
	defer syscall.Close(ep)
	events := make([]syscall.EpollEvent, 1024)
	buf := make([]byte, 64<<10)
	pause := syscall.NsecToTimespec(int64(batchPause))
	empty := idleLooks // start blocked
	for {
		select {
		case <-f.polling.stop:
			return
		default:
		}
		wait := 100 // ms; a blocked poller still sees stop
		if empty < idleLooks {
			ts := pause
			_ = syscall.Nanosleep(&ts, nil) // a signal only shortens the pause
			wait = 0
		}
		var n int
		var err error
		if wait == 0 {
			n, err = epollPoll(ep, events)
		} else {
			n, err = syscall.EpollWait(ep, events, wait)
		}
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			panic(fmt.Sprintf("epoll_wait: %v", err))
		}
		if n == 0 {
			empty = min(empty+1, idleLooks)
			continue
		}
		empty = 0
		for _, ev := range events[:n] {
			c := byFD[ev.Fd]
			if c == nil {
				continue
			}
			if !f.readReady(c, buf) {
				_ = syscall.EpollCtl(ep, syscall.EPOLL_CTL_DEL, c.poll.fd, nil)
				delete(byFD, ev.Fd)
			}
		}
	}
}

// epollET is EPOLLET as the unsigned mask EpollEvent.Events takes.
const epollET = 1 << 31

// readReady reads everything c's socket holds (until a read comes back short) and handles
// its whole frames. It reports false when the connection ended (the server closed it, or
// sent a close frame).
func (f *fleet) readReady(c *client, buf []byte) bool {
	for {
		n, ok := f.readOnce(c, buf)
		if !ok {
			return false
		}
		if n < len(buf) {
			return true
		}
	}
}

// readOnce reads once from c's socket and handles the whole frames it completes; n is what
// it read (0 when nothing was there).
func (f *fleet) readOnce(c *client, buf []byte) (n int, ok bool) {
	p := c.poll
	// The sockets are non-blocking: the reads and the looks that do not wait are raw
	// system calls, without the scheduler's bookkeeping of a blocking one.
	r, _, errno := syscall.RawSyscall(syscall.SYS_READ, uintptr(p.fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
	n = int(r)
	if errno == syscall.EAGAIN {
		return 0, true
	}
	if errno == syscall.EINTR {
		return len(buf), true // read again
	}
	if errno != 0 || n <= 0 {
		f.ended(c)
		return 0, false
	}
	at := time.Since(f.base).Nanoseconds()
	data := buf[:n]
	if len(p.part) > 0 {
		data = append(p.part, data...)
		p.part = nil
	}
	for len(data) > 0 {
		frame, payload, ok := nextFrame(data)
		if !ok {
			p.part = append([]byte(nil), data...) // the rest comes with a later read
			break
		}
		data = data[len(frame):]
		switch op := frame[0] & 0x0f; {
		case op == websocket.TextMessage && frame[0]&0x80 != 0:
			f.receive(c, payload, at)
		case op == websocket.PingMessage:
			_ = c.ws.WriteControl(websocket.PongMessage, payload, time.Now().Add(time.Second))
		case op == websocket.PongMessage:
		case op == websocket.CloseMessage:
			f.ended(c)
			return 0, false
		default:
			c.bad.Add(1) // fragmented or binary: neither server sends those
		}
	}
	return n, true
}

// epollPoll is epoll_wait that does not wait.
func epollPoll(ep int, events []syscall.EpollEvent) (int, error) {
	r, _, errno := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(ep), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

// ended counts a connection that ended before the fleet closed it.
func (f *fleet) ended(c *client) {
	if !f.closing.Load() {
		f.dropped.Add(1)
	}
}

// nextFrame splits the first frame a server sent (unmasked, RFC 6455 5.2) off data: the
// whole frame and its payload, or ok false when data does not hold all of it yet.
func nextFrame(data []byte) (frame, payload []byte, ok bool) {
	if len(data) < 2 {
		return nil, nil, false
	}
	h, n := 2, uint64(data[1]&0x7f)
	switch n {
	case 126:
		if len(data) < 4 {
			return nil, nil, false
		}
		h, n = 4, uint64(binary.BigEndian.Uint16(data[2:]))
	case 127:
		if len(data) < 10 {
			return nil, nil, false
		}
		h, n = 10, binary.BigEndian.Uint64(data[2:])
	}
	if data[1]&0x80 != 0 {
		h += 4 // a masked frame: not from a server, but its length is still known
	}
	if uint64(len(data)-h) < n {
		return nil, nil, false
	}
	end := h + int(n)
	return data[:end], data[h:end], true
}
