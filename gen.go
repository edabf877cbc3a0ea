package ptoy

// The protobuf and Connect code in gen/ is generated from proto/ and
// committed; tools/gen.sh regenerates it with pinned tools.
//go:generate tools/gen.sh
