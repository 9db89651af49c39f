"""RecBole model classes of the plugin: ``llm_recommender.LLMRecommender`` is the backbone every LLM model shares
(prompt -> generate a title -> ground it to items); ``bigrec``, ``icl``, ``soft`` and ``dmpo`` are the methods;
``pairwise_auc`` is DMPO's pairwise AUC, the one measure an LLM and a classical model are both scored by.
Which names they run under, and with which trainer, is declared in ``recbole_soft.registry``."""
