"""RecBole data as the LLM models need it: raw item titles, capped training sets, checks before loading."""
from recbole_soft.data.item_text import load_item_titles
from recbole_soft.data.sampling import batch_indices, cap_test_users, cap_train_data, seeded_rows
from recbole_soft.data.validation import require_dataset_files, require_item_text_field

__all__ = ["load_item_titles", "batch_indices", "cap_train_data", "cap_test_users", "seeded_rows", "require_dataset_files", "require_item_text_field"]
