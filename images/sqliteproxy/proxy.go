package main

import (
	"errors"
	"io"
	"log"
	"net"
	"sync"
	"syscall"
	"time"
)

// Proxy forwards every connection it accepts to Target.
type Proxy struct {
	Target      string
	DialTimeout time.Duration // default 5s

	mu     sync.Mutex
	lns    map[net.Listener]bool
	conns  map[net.Conn]bool
	closed bool
	wg     sync.WaitGroup
}

// Serve accepts clients on ln until ln or the proxy is closed.
func (p *Proxy) Serve(ln net.Listener) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		ln.Close()
		return net.ErrClosed
	}
	if p.lns == nil {
		p.lns, p.conns = map[net.Listener]bool{}, map[net.Conn]bool{}
	}
	p.lns[ln] = true
	p.mu.Unlock()
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			p.mu.Lock()
			closed := p.closed
			p.mu.Unlock()
			if closed || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				log.Printf("accept: %v; retrying in %v", err, delay)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			return nil
		}
		p.conns[c] = true
		p.wg.Add(1) // under mu, so Close's Wait never races with it
		p.mu.Unlock()
		go func() {
			defer p.wg.Done()
			defer p.track(c, false)
			p.forward(c)
		}()
	}
}

// track adds or removes a connection; adding fails once the proxy is closed.
func (p *Proxy) track(c net.Conn, add bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		if p.closed {
			return false
		}
		p.conns[c] = true
	} else {
		delete(p.conns, c)
	}
	return true
}

// Close stops accepting, closes every open connection and waits for them.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	for ln := range p.lns {
		ln.Close()
	}
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) forward(client net.Conn) {
	start := time.Now()
	peer := client.RemoteAddr().String()
	defer client.Close()
	timeout := p.DialTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	server, err := net.DialTimeout("tcp", p.Target, timeout)
	if err != nil {
		log.Printf("%s -> %s: dial failed: %v", peer, p.Target, err)
		return
	}
	if !p.track(server, true) {
		server.Close()
		return
	}
	defer p.track(server, false)
	defer server.Close()

	var up, down int64
	var upErr, downErr error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		up, upErr = pipe(server, client)
	}()
	go func() {
		defer wg.Done()
		down, downErr = pipe(client, server)
	}()
	wg.Wait()
	msg := ""
	if err := errors.Join(upErr, downErr); err != nil {
		msg = " (" + err.Error() + ")"
	}
	log.Printf("%s -> %s: %d bytes up, %d bytes down, %v%s", peer, server.RemoteAddr(), up, down, time.Since(start).Round(time.Millisecond), msg)
}

// pipe copies src to dst until src ends, then closes dst's writing half so
// the other end sees the end of input. When the copy fails, both are closed.
func pipe(dst, src net.Conn) (int64, error) {
	n, err := io.Copy(dst, src)
	if err != nil {
		if errors.Is(err, net.ErrClosed) {
			err = nil // closed by the other direction or by Close
		}
		dst.Close()
		src.Close()
		return n, err
	}
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	} else {
		dst.Close()
	}
	if cr, ok := src.(interface{ CloseRead() error }); ok {
		cr.CloseRead()
	}
	return n, nil
}
