"""RecBole model classes of the plugin."""
from recbole_soft.model.bigrec import BIGRec
from recbole_soft.model.dmpo import DMPO
from recbole_soft.model.icl import ICL
from recbole_soft.model.llm_recommender import LLMRecommender
from recbole_soft.model.soft import SOFT

__all__ = ["LLMRecommender", "BIGRec", "ICL", "SOFT", "DMPO"]
