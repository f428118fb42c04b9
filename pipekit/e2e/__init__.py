"""The end-to-end scenario: push a change, watch it go live, break it, watch it roll back, restore.

`decisions` holds the pure functions over API responses; the other modules do I/O."""
