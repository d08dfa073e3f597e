package auth

// WaitLoads waits for the cache's store reads in flight (background
// refreshes included) to finish and be recorded.
func (c *KeyCache) WaitLoads() { c.wg.Wait() }

// HashKeyForTest is hashKey: the SHA-256 under which a key is looked up.
func HashKeyForTest(secret string) []byte { return hashKey(secret) }
