package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/meshward/meshward/extauthz/eaas/keystore"
	"github.com/meshward/meshward/extauthz/eaas/subscriber"
)

// StoreState keeps the coordinator's state in the key store (bbolt or
// etcd), beside the keys: subscribers and sequence reservations survive a
// restart, and replicas sharing an etcd store share them.
type StoreState struct {
	S keystore.Store
}

const (
	subscriberPrefix = "eaas/subscribers/"
	seqPrefix        = "eaas/seq/"
)

func (st StoreState) Reserve(requester string, upTo uint64) error {
	ctx := context.Background()
	key := seqPrefix + requester
	for range 8 { // another replica may write between our read and our write
		rev, cur, err := st.reserved(ctx, key)
		if err != nil {
			return err
		}
		if cur >= upTo {
			return nil
		}
		_, err = st.S.Put(ctx, key, []byte(strconv.FormatUint(upTo, 10)), rev)
		if !errors.Is(err, keystore.ErrConflict) {
			return err
		}
	}
	return fmt.Errorf("reserving sequence numbers of %s: too much contention", requester)
}

func (st StoreState) Reserved(requester string) (uint64, error) {
	_, v, err := st.reserved(context.Background(), seqPrefix+requester)
	return v, err
}

func (st StoreState) reserved(ctx context.Context, key string) (uint64, uint64, error) {
	it, err := st.S.Get(ctx, key)
	if errors.Is(err, keystore.ErrNotFound) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	v, err := strconv.ParseUint(string(it.Value), 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: stored reservation %q: %w", key, it.Value, err)
	}
	return it.Rev, v, nil
}

func (st StoreState) SaveSubscriber(s subscriber.Subscriber) error {
	ctx := context.Background()
	key := subscriberPrefix + strconv.FormatUint(uint64(s.ID), 10)
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	var rev uint64
	if it, err := st.S.Get(ctx, key); err == nil {
		rev = it.Rev
	} else if !errors.Is(err, keystore.ErrNotFound) {
		return err
	}
	_, err = st.S.Put(ctx, key, b, rev)
	return err
}

func (st StoreState) Subscribers() ([]subscriber.Subscriber, error) {
	var out []subscriber.Subscriber
	err := st.S.List(context.Background(), subscriberPrefix, func(it keystore.Item) error {
		var s subscriber.Subscriber
		if err := json.Unmarshal(it.Value, &s); err != nil {
			return fmt.Errorf("%s: %w", it.Key, err)
		}
		if err := s.Validate(); err != nil {
			return fmt.Errorf("%s: %w", it.Key, err)
		}
		out = append(out, s)
		return nil
	})
	return out, err
}
