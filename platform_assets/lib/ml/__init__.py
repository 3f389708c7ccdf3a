"""Pure machine learning: features, training (scikit-learn, Spark ML), model store, promotion, drift."""
