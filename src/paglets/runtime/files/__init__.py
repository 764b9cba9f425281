"""The files paglets keep on a host: registered files and work dirs."""
