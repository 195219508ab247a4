package server

import (
	"context"
	"errors"
	"io"
	"sync"

	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	danev1 "github.com/daned/daned/proto/dane/v1"
)

// ValidateStream implements dane.v1.DaneService.ValidateStream: each
// request is validated as it arrives, at most streamConcurrency at a time
// per stream, and answered as soon as its verdict is reached. While the
// stream is at that bound the server stops reading, so gRPC flow control
// holds back a caller that sends faster than it reads.
func (s *Server) ValidateStream(stream grpc.BidiStreamingServer[danev1.ValidateStreamRequest, danev1.ValidateStreamResponse]) error {
	ctx := stream.Context()
	out := make(chan *danev1.ValidateStreamResponse)
	sendErr := make(chan error, 1)
	go func() {
		var err error
		for r := range out {
			if err == nil {
				err = stream.Send(r)
			}
			// After a failed send, keep draining so workers never block.
		}
		sendErr <- err
	}()

	slots := make(chan struct{}, s.streamConcurrency)
	var wg sync.WaitGroup
	var recvErr error
	for {
		req, err := stream.Recv()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				recvErr = err
			}
			break
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			recvErr = ctx.Err()
		}
		if recvErr != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-slots }()
			resp := s.answer(ctx, req)
			select {
			case out <- resp:
			case <-ctx.Done():
			}
		})
	}
	wg.Wait()
	close(out)
	if err := <-sendErr; err != nil {
		return err
	}
	if recvErr != nil {
		return status.FromContextError(recvErr).Err()
	}
	return nil
}

// answer validates one stream request; a refused request becomes an error
// for that request alone.
func (s *Server) answer(ctx context.Context, req *danev1.ValidateStreamRequest) *danev1.ValidateStreamResponse {
	out := &danev1.ValidateStreamResponse{RequestId: req.GetRequestId()}
	resp, err := s.Validate(ctx, req.GetRequest())
	if err != nil {
		st := status.Convert(err)
		out.Result = &danev1.ValidateStreamResponse_Error{Error: &danev1.StreamError{Code: codeName(st), Message: st.Message()}}
		return out
	}
	out.Result = &danev1.ValidateStreamResponse_Response{Response: resp}
	return out
}

// codeName is the status code in the API's spelling ("INVALID_ARGUMENT").
func codeName(st *status.Status) string {
	if n, ok := code.Code_name[int32(st.Code())]; ok {
		return n
	}
	return st.Code().String()
}
