"""RecBole model classes of the plugin: ``llm_recommender.LLMRecommender`` is the backbone every LLM model shares
(prompt -> generate a title -> ground it to items); ``bigrec``, ``icl``, ``soft`` and ``dmpo`` are the methods.
Which names they run under, and with which trainer, is declared in ``recbole_soft.registry``."""
