//! The I/O core shared by the controller and the one-shot CLI: read the
//! observed state a desired state needs, and execute a plan in order.
