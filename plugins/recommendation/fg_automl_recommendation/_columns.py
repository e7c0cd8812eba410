"""Column names of the recommendation task's features, and the default K."""

__all__ = ["CATEGORY", "DEFAULT_K", "ITEM", "TIME", "USER"]

#: Columns of :attr:`Dataset.features`, whatever the file calls them.
USER, ITEM, TIME, CATEGORY = "user", "item", "timestamp", "category"
#: Default length of each user's recommendation list (F1@K).
DEFAULT_K = 10
