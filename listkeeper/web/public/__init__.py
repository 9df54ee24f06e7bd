"""Pages for members and the public: list page, confirm, unsubscribe, manage."""
