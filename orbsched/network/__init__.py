"""The laser network the engine drives: the time-varying graph replayed from the contact plan,
its slot arrays for the compiled searches, and flow-level transfers with max-min sharing."""
